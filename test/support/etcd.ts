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
