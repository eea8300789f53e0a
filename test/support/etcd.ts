/** Starts a real etcd 3.4 (Debian etcd-server) on loopback with its data in a temporary directory. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
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

export async function startEtcd(): Promise<EtcdServer> {
  const dir = mkdtempSync(join(tmpdir(), 'etcd-'));
  const [cport, pport] = [await freeTcpPort(), await freeTcpPort()];
  const client = `http://127.0.0.1:${cport}`;
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
  const probe = mk();
  const t0 = Date.now();
  for (;;) {
    try {
      await probe.get('probe').string();
      break;
    } catch (e) {
      if (proc.exitCode !== null || Date.now() - t0 > 15_000) throw new Error(`etcd did not start: ${(e as Error).message}\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return {
    endpoint: client,
    storeSpec: `etcd://127.0.0.1:${cport}`,
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
