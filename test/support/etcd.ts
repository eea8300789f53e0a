/** Starts a real etcd 3.4 (Debian etcd-server) on loopback with its data in a temporary directory. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';

export interface EtcdServer {
  readonly endpoint: string;
  /** `etcd://127.0.0.1:PORT`, as the manager's --store takes it. */
  readonly storeSpec: string;
  client(): Etcd3;
  output(): string;
  /** SIGSTOP/SIGCONT: an etcd that stops answering without closing connections. */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

export async function freeTcpPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/** TLS for clients: etcd's certificate (PEM files); with clientCa, client certificates are required. */
export interface EtcdTls {
  cert: string;
  key: string;
  clientCa?: string;
}

export async function startEtcd(tls?: EtcdTls): Promise<EtcdServer> {
  const dir = mkdtempSync(join(tmpdir(), 'etcd-'));
  const [cport, pport] = [await freeTcpPort(), await freeTcpPort()];
  const client = `${tls ? 'https' : 'http'}://127.0.0.1:${cport}`;
  const peer = `http://127.0.0.1:${pport}`;
  let out = '';
  const proc: ChildProcess = spawn(
    'etcd',
    [
      '--name=t',
      `--data-dir=${join(dir, 'data')}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=t=${peer}`,
      ...(tls ? [`--cert-file=${tls.cert}`, `--key-file=${tls.key}`] : []),
      ...(tls?.clientCa ? ['--client-cert-auth', `--trusted-ca-file=${tls.clientCa}`] : []),
      '--log-level=warn',
      '--logger=zap',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  proc.stdout!.on('data', (d) => (out = (out + d).slice(-20_000)));
  proc.stderr!.on('data', (d) => (out = (out + d).slice(-20_000)));
  const clients: Etcd3[] = [];
  const mk = () => {
    const c = new Etcd3({ hosts: client });
    clients.push(c);
    return c;
  };
  const t0 = Date.now();
  for (;;) {
    try {
      if (tls) {
        // a TLS etcd: wait for its port (the caller's client carries the credentials)
        await new Promise<void>((res, rej) => {
          const s = connect(cport, '127.0.0.1', () => {
            s.destroy();
            res();
          });
          s.on('error', rej);
        });
      } else await mk().get('probe').string();
      break;
    } catch (e) {
      if (proc.exitCode !== null || Date.now() - t0 > 15_000) throw new Error(`etcd did not start: ${(e as Error).message}\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    endpoint: client,
    storeSpec: `${tls ? 'etcds' : 'etcd'}://127.0.0.1:${cport}`,
    client: mk,
    output: () => out,
    pause: () => proc.kill('SIGSTOP'),
    resume: () => proc.kill('SIGCONT'),
    async stop() {
      for (const c of clients) c.close();
      if (proc.exitCode === null) {
        proc.kill('SIGCONT');
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface EtcdCluster {
  /** `etcd://h1,h2,h3` with every member. */
  readonly storeSpec: string;
  client(): Etcd3;
  /** SIGKILL of member i (its data directory stays). */
  kill(i: number): Promise<void>;
  /** Starts member i again on its data directory and ports. */
  restart(i: number): void;
  stop(): Promise<void>;
}

/** A real n-member etcd cluster on loopback (static bootstrap). */
export async function startEtcdCluster(n = 3): Promise<EtcdCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'etcd-cluster-'));
  const ports: Array<{ c: number; p: number }> = [];
  for (let i = 0; i < n; i++) ports.push({ c: await freeTcpPort(), p: await freeTcpPort() });
  const initial = ports.map((x, i) => `m${i}=http://127.0.0.1:${x.p}`).join(',');
  const procs: Array<ChildProcess | undefined> = [];
  let out = '';
  const start = (i: number, state: 'new' | 'existing') => {
    const { c, p } = ports[i]!;
    const proc = spawn(
      'etcd',
      [
        `--name=m${i}`,
        `--data-dir=${join(dir, `m${i}`)}`,
        `--listen-client-urls=http://127.0.0.1:${c}`,
        `--advertise-client-urls=http://127.0.0.1:${c}`,
        `--listen-peer-urls=http://127.0.0.1:${p}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${p}`,
        `--initial-cluster=${initial}`,
        `--initial-cluster-state=${state}`,
        '--initial-cluster-token=macsec-test',
        '--heartbeat-interval=50',
        '--election-timeout=500',
        '--log-level=warn',
        '--logger=zap',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc.stdout!.on('data', (d) => (out = (out + d).slice(-20_000)));
    proc.stderr!.on('data', (d) => (out = (out + d).slice(-20_000)));
    procs[i] = proc;
  };
  for (let i = 0; i < n; i++) start(i, 'new');
  const hosts = ports.map((x) => `http://127.0.0.1:${x.c}`);
  const clients: Etcd3[] = [];
  const mk = () => {
    const c = new Etcd3({ hosts });
    clients.push(c);
    return c;
  };
  const t0 = Date.now();
  for (;;) {
    try {
      await mk().put('probe').value('1');
      break;
    } catch (e) {
      if (Date.now() - t0 > 20_000) throw new Error(`etcd cluster did not start: ${(e as Error).message}\n${out}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const kill = async (i: number) => {
    const p = procs[i];
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    p.kill('SIGKILL');
    await new Promise((r) => p.once('exit', r));
  };
  return {
    storeSpec: `etcd://${ports.map((x) => `127.0.0.1:${x.c}`).join(',')}`,
    client: mk,
    kill,
    restart: (i) => start(i, 'existing'),
    async stop() {
      for (const c of clients) c.close();
      for (let i = 0; i < n; i++) await kill(i);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
