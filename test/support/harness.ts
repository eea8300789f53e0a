/** Test harness for the control plane: a PKI in a temp dir, manager (in-process or child), agents, clients. */
import { appendFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createHash } from 'node:crypto';
import type { ServiceError, ClientReadableStream } from '@grpc/grpc-js';
import { createCa, issue, type CaHandle, type KeyPairPem } from '../../src/pki/pki.js';
import { clientCredentials, serverCredentials, type TlsMaterial } from '../../src/control/tls.js';
import type { Event } from '../../src/control/gen/macsec/v1/manager.js';
import { ManagerApi, ManagerCallError } from '../../src/control/client.js';
import { Manager, type ManagerOptions } from '../../src/manager/manager.js';
import { SqliteStore } from '../../src/manager/store/sqlite.js';
import { startManagerServer, type ManagerServer } from '../../src/manager/server.js';
import { Agent, type AgentOptions } from '../../src/agent/managed/agent.js';
import { MemoryHub } from '../../src/link/memory.js';
import type { FrameLinkFactory } from '../../src/link/link.js';
import { RecordingSecy } from '../../src/secy/recording.js';
import { simMac } from '../../src/agent/managed/sim.js';
import { defaultKayFactory } from '../../src/port/driver.js';

export const ROOT = join(import.meta.dirname, '..', '..');

export interface TestPki {
  dir: string;
  ca: CaHandle;
  pairs: Map<string, KeyPairPem>;
  material(name: string): TlsMaterial;
  files(name: string): { ca: string; cert: string; key: string };
  cleanup(): void;
}

/** Issues: manager "mgr"; agents a1..a3 (+ extra); operators admin "alice", read-only "bob",
 * orchestrators "osm-a" and "osm-b";
 * "mallory" (admin from another CA), "old" (expired admin), "ghost" agent from another CA. */
export function makePki(extraAgents: string[] = []): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'macsec-pki-'));
  const ca = createCa();
  const other = createCa({ commonName: 'some other CA' });
  const pairs = new Map<string, KeyPairPem>();
  pairs.set('mgr', issue(ca, { kind: 'manager', name: 'mgr' }));
  for (const a of ['a1', 'a2', 'a3', ...extraAgents]) pairs.set(a, issue(ca, { kind: 'agent', name: a }));
  pairs.set('alice', issue(ca, { kind: 'admin', name: 'alice' }));
  pairs.set('bob', issue(ca, { kind: 'read-only', name: 'bob' }));
  pairs.set('osm-a', issue(ca, { kind: 'orchestrator', name: 'osm-a' }));
  pairs.set('osm-b', issue(ca, { kind: 'orchestrator', name: 'osm-b' }));
  pairs.set('mallory', issue(other, { kind: 'admin', name: 'mallory' }));
  pairs.set('ghost', issue(other, { kind: 'agent', name: 'a1' }));
  const past = new Date(Date.now() - 10 * 86_400_000);
  pairs.set('old', issue(ca, { kind: 'admin', name: 'old', notBefore: past, notAfter: new Date(Date.now() - 86_400_000) }));
  writeFileSync(join(dir, 'ca.crt'), ca.certPem);
  writeFileSync(join(dir, 'other-ca.crt'), other.certPem);
  for (const [n, p] of pairs) {
    writeFileSync(join(dir, `${n}.crt`), p.certPem);
    writeFileSync(join(dir, `${n}.key`), p.keyPem, { mode: 0o600 });
  }
  return {
    dir,
    ca,
    pairs,
    material: (name) => ({ ca: Buffer.from(ca.certPem), cert: Buffer.from(pairs.get(name)!.certPem), key: Buffer.from(pairs.get(name)!.keyPem) }),
    files: (name) => ({ ca: join(dir, 'ca.crt'), cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) }),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface RunningManager {
  manager: Manager;
  server: ManagerServer;
  store: SqliteStore;
  port: number;
  address: string;
  stop(): Promise<void>;
}

export async function startManager(pki: TestPki, dbPath = ':memory:', opts: ManagerOptions & { port?: number } = {}): Promise<RunningManager> {
  const store = new SqliteStore(dbPath, { create: true });
  const manager = new Manager(store, { id: 'mgr', ackTimeoutMs: 5000, ...opts });
  const server = await startManagerServer(manager, serverCredentials(pki.material('mgr')), `127.0.0.1:${opts.port ?? 0}`);
  return {
    manager,
    server,
    store,
    port: server.port,
    address: `127.0.0.1:${server.port}`,
    stop: async () => {
      server.forceShutdown();
      store.close();
    },
  };
}

/** The manager as a separate process (for kill -9 / restart). */
export interface ManagerProcess {
  proc: ChildProcess;
  port: number;
  metricsPort: number;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** A manager process on a SQLite file, or on etcd when `db` is an etcd:// store spec. */
let replicaSeq = 0;
export async function spawnManager(pki: TestPki, db: string, port = 0, extra: string[] = []): Promise<ManagerProcess> {
  const f = pki.files('mgr');
  // replicas on one etcd need distinct ids
  if (db.startsWith('etcd') && !extra.includes('--id')) extra = [...extra, '--id', `replica-${process.pid}-${++replicaSeq}`];
  const proc = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'src/manager/main.ts'),
      '--listen',
      `127.0.0.1:${port}`,
      // a path (SQLite), or a store spec (etcd://...; then --store-key-file in extra)
      db.startsWith('etcd') ? '--store' : '--db',
      db,
      '--ca',
      f.ca,
      '--cert',
      f.cert,
      '--key',
      f.key,
      '--metrics',
      '127.0.0.1:0',
      '--ack-timeout-ms',
      '5000',
      // A test's first start makes the store; later starts must find it (as in production).
      ...(existsSync(db) || extra.includes('--no-init') ? [] : ['--init-db']),
      ...extra.filter((a) => a !== '--no-init'),
    ],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, MACSEC_LOG_LEVEL: process.env.MACSEC_LOG_LEVEL ?? 'warn' },
    },
  );
  let stderr = '';
  proc.stderr!.on('data', (d) => (stderr += d));
  // MACSEC_TEST_LOG=FILE: every manager's log lines appended there (for a failing test)
  if (process.env.MACSEC_TEST_LOG) proc.stderr!.on('data', (d) => appendFileSync(process.env.MACSEC_TEST_LOG!, d));
  const ready = await new Promise<{ port: number; metricsPort: number }>((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout! });
    const timer = setTimeout(() => reject(new Error(`manager did not start: ${stderr}`)), 30_000);
    rl.on('line', (l) => {
      try {
        const j = JSON.parse(l);
        if (j.ready) {
          clearTimeout(timer);
          resolve({ port: j.port, metricsPort: j.metricsPort });
        }
      } catch {
        /* not ours */
      }
    });
    proc.on('exit', (c) => reject(new Error(`manager exited ${c}: ${stderr}`)));
  });
  return {
    proc,
    ...ready,
    kill: (signal = 'SIGKILL') =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve(); // ended (by itself, or by a signal)
        proc.once('exit', () => resolve());
        proc.kill(signal);
      }),
  };
}

/** An agent as a separate process (src/agent/managed/main.ts) on the UDP LAN relay; resolves once it prints ready. */
export function spawnAgentProcess(
  pki: TestPki,
  id: string,
  managerPort: number,
  relayPort: number,
  extra: string[] = [],
): Promise<{ proc: ChildProcess; metricsPort: number }> {
  const f = pki.files(id);
  const proc = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(ROOT, 'src/agent/managed/main.ts'),
      '--manager',
      `127.0.0.1:${managerPort}`,
      '--ca',
      f.ca,
      '--cert',
      f.cert,
      '--key',
      f.key,
      '--interfaces',
      'eth1',
      '--sim-lan-relay',
      `127.0.0.1:${relayPort}`,
      ...extra,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MACSEC_LOG_LEVEL: 'warn' } },
  );
  let err = '';
  proc.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      try {
        const j = JSON.parse(l);
        if (j.ready) resolve({ proc, metricsPort: j.metricsPort ?? 0 });
      } catch {
        /* not ours */
      }
    });
    proc.on('exit', (c) => reject(new Error(`agent exited ${c}: ${err}`)));
  });
}

export function operator(pki: TestPki, name: string, port: number, material?: TlsMaterial): ManagerApi {
  return new ManagerApi(`127.0.0.1:${port}`, clientCredentials(material ?? pki.material(name), 'manager'), 20_000);
}

/** The gRPC status a call failed with (as on the wire: code is the gRPC status). */
export async function rpcError(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ManagerCallError) return Object.assign(new Error(e.message), { code: e.status, details: e.details, metadata: e.metadata });
    return e as ServiceError;
  }
  throw new Error('expected the call to fail');
}

/** Collects events from WatchEvents. */
export function watch(api: ManagerApi, sinceSeq = 0): { events: Event[]; stream: ClientReadableStream<Event>; close(): void } {
  const events: Event[] = [];
  const stream = api.watchEvents({ sinceSeq });
  stream.on('data', (e: Event) => events.push(e));
  stream.on('error', () => {});
  return { events, stream, close: () => stream.cancel() };
}

export interface SimAgentOptions extends Partial<AgentOptions> {
  hub?: MemoryHub;
  linkFactory?: FrameLinkFactory;
}

export function simAgent(pki: TestPki, id: string, port: number, o: SimAgentOptions = {}, certName = id): Agent {
  const hub = o.hub ?? new MemoryHub();
  const agent = new Agent({
    id,
    managerAddress: `127.0.0.1:${port}`,
    credentials: clientCredentials(pki.material(certName), 'manager'),
    interfaces: [
      { name: 'eth1', mac: '' },
      { name: 'eth2', mac: '' },
    ],
    kayFactory: defaultKayFactory,
    secyFactory: ({ interface: iface }) => {
      const s = new RecordingSecy();
      return {
        secy: s,
        ifname: `ms-${createHash('sha1')
          .update(id + iface)
          .digest('hex')
          .slice(0, 8)}`,
        stats: () => s.stats(),
      };
    },
    linkFactory: o.linkFactory ?? hub.factory(),
    lanOf: (iface) => `lan-${iface}`,
    macOf: (iface) => simMac(id, iface),
    mka: { helloTimeMs: 300, lifeTimeMs: 1200 },
    backoff: { initialMs: 100, maxMs: 1000 },
    statusIntervalMs: 500,
    ...o,
  });
  agent.start();
  return agent;
}

export async function waitFor<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 20_000, everyMs = 50): Promise<NonNullable<T>> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
