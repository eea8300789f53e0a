/** Shared setup for the OSM adapter tests: two PKIs on disk, the manager test double, EE servers. */
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { ManagerApi } from '../../../src/control/client.js';
import { clientCredentials } from '../../../src/control/tls.js';
import { createLogger } from '../../../src/common/log.js';
import { startEeServer, type EeServer, type EeServerOptions } from '../../../src/osm/server.js';
import { makeTestPki, ManagerServiceTestDouble, type ManagerDoubleOptions, type TestPki } from './manager-double.js';

export interface Files {
  dir: string;
  osmCa: string;
  eeCert: string;
  eeKey: string;
  lcmCert: string;
  lcmKey: string;
  macsecCa: string;
  /** The EE's operator certificate: role orchestrator. */
  opCert: string;
  opKey: string;
  adminCert: string;
  adminKey: string;
  roCert: string;
  roKey: string;
  agentCert: string;
  agentKey: string;
}

export function writePki(pki: TestPki): Files {
  const dir = mkdtempSync(join(tmpdir(), 'osm-ee-test-'));
  const w = (name: string, data: string) => {
    const f = join(dir, name);
    writeFileSync(f, data, { mode: 0o600 });
    return f;
  };
  return {
    dir,
    osmCa: w('osm-ca.crt', pki.osmCa.certPem),
    eeCert: w('ee.crt', pki.eeServer.certPem),
    eeKey: w('ee.key', pki.eeServer.keyPem),
    lcmCert: w('lcm.crt', pki.lcmClient.certPem),
    lcmKey: w('lcm.key', pki.lcmClient.keyPem),
    macsecCa: w('macsec-ca.crt', pki.macsecCa.certPem),
    opCert: w('osm-operator.crt', pki.orchestrator.certPem),
    opKey: w('osm-operator.key', pki.orchestrator.keyPem),
    adminCert: w('admin.crt', pki.operatorAdmin.certPem),
    adminKey: w('admin.key', pki.operatorAdmin.keyPem),
    roCert: w('ro.crt', pki.operatorReadOnly.certPem),
    roKey: w('ro.key', pki.operatorReadOnly.keyPem),
    agentCert: w('agent.crt', pki.agent.certPem),
    agentKey: w('agent.key', pki.agent.keyPem),
  };
}

export interface Env {
  pki: TestPki;
  files: Files;
  manager: ManagerServiceTestDouble;
  managerAddress: string;
  ees: EeServer[];
  /** mtls: false = no TLS material, plaintext only (allowPlaintext defaults to true then). */
  startEe(o?: Partial<EeServerOptions> & { mtls?: boolean }): Promise<EeServer>;
  /** LCM's client credentials (OSM's CA) for the TypeScript EE client. */
  lcmCreds(): ChannelCredentials;
  /** A fabric administrator talking to the manager directly (not through the EE). */
  admin(): ManagerApi;
  close(): Promise<void>;
}

export const quietLogger = createLogger({ component: 'osm-ee' }, { level: (process.env.OSM_TEST_LOG as 'debug' | undefined) ?? 'error' });

export async function setup(managerOpts: ManagerDoubleOptions = {}): Promise<Env> {
  const pki = makeTestPki();
  const files = writePki(pki);
  const manager = new ManagerServiceTestDouble(managerOpts);
  const port = await manager.start({ ca: pki.macsecCa, server: pki.manager });
  const ees: EeServer[] = [];
  const env: Env = {
    pki,
    files,
    manager,
    managerAddress: `localhost:${port}`,
    ees,
    async startEe(o = {}) {
      const { mtls = true, ...rest } = o;
      const ee = await startEeServer({
        host: '127.0.0.1',
        port: 0,
        tls: mtls ? { ca: Buffer.from(pki.osmCa.certPem), cert: Buffer.from(pki.eeServer.certPem), key: Buffer.from(pki.eeServer.keyPem) } : null,
        ...(mtls ? {} : { allowPlaintext: true }),
        logger: quietLogger,
        operations: false,
        ...rest,
      });
      ees.push(ee);
      return ee;
    },
    lcmCreds: () => credentials.createSsl(Buffer.from(pki.osmCa.certPem), Buffer.from(pki.lcmClient.keyPem), Buffer.from(pki.lcmClient.certPem)),
    admin: () =>
      new ManagerApi(
        `localhost:${port}`,
        clientCredentials({ ca: Buffer.from(pki.macsecCa.certPem), cert: Buffer.from(pki.operatorAdmin.certPem), key: Buffer.from(pki.operatorAdmin.keyPem) }),
      ),
    async close() {
      for (const ee of ees) await ee.close();
      manager.stop();
      rmSync(files.dir, { recursive: true, force: true });
    },
  };
  return env;
}

// ------------------------------------------------------------------ the Python LCM-like client

const CLIENT = fileURLToPath(new URL('./lcm_client.py', import.meta.url));

/** A python3 with Debian's grpcio and yaml (pyenv shims often lack them; /usr/bin/python3 has them). */
export function findPython(): string {
  const cands = [process.env.OSM_LCM_PYTHON, '/usr/bin/python3', 'python3'].filter((c): c is string => !!c);
  for (const c of cands) {
    try {
      execFileSync(c, ['-c', 'import grpc, yaml, google.protobuf'], { stdio: 'ignore' });
      return c;
    } catch {
      /* next */
    }
  }
  throw new Error('no python3 with grpc, yaml and protobuf: apt-get install python3-grpcio python3-yaml python3-protobuf (or set OSM_LCM_PYTHON)');
}

export interface PyResult {
  primitive?: string;
  stubs?: string;
  transport?: string | null;
  replies?: string[];
  status?: string | null;
  detailed_message?: string;
  passed?: boolean;
  ssh_key?: string;
  error?: string;
}

/** Runs lcm_client.py asynchronously (the EE runs in this process) and parses its JSON lines. */
export function lcm(python: string, args: string[], timeoutMs = 60_000): Promise<{ code: number; results: PyResult[]; stderr: string }> {
  return new Promise((resolve) => {
    // LCM retries unreachable EEs for up to 600 s; keep tests bounded unless a test sets its own budget.
    const full = args.includes('--retry-seconds') ? args : ['--retry-seconds', '5', ...args];
    execFile(python, [CLIENT, ...full], { timeout: timeoutMs, encoding: 'utf8', env: { ...process.env, GRPC_VERBOSITY: 'NONE' } }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      const results = stdout
        .split('\n')
        .filter((l) => l.trim().startsWith('{'))
        .map((l) => JSON.parse(l) as PyResult);
      resolve({ code, results, stderr });
    });
  });
}

export function tlsArgs(f: Files): string[] {
  return ['--ca', f.osmCa, '--cert', f.lcmCert, '--key', f.lcmKey];
}
