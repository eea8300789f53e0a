/**
 * A manager deployment for suites that run against each kind: one manager on SQLite, or manager
 * replicas on a real etcd (the same suite, the same assertions). Agents take every replica's
 * address (each agent a different first one, so that the agents spread over the replicas and
 * calls at the first replica reach agents at the others).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keyring } from '../../src/manager/store/keyring.js';
import { type EtcdServer, startEtcd } from './etcd.js';
import { type ManagerProcess, spawnManager, type TestPki } from './harness.js';

export interface Deployment {
  readonly kind: string;
  /** The port operators call (the first replica's). */
  readonly port: number;
  /** The manager address for the i-th agent: every replica, starting at a different one. */
  agentAddress(i: number): string;
  /** kill -9 of every manager process. */
  kill(): Promise<void>;
  /** Starts every manager again on the same addresses and store. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function sqliteDeployment(pki: TestPki): Promise<Deployment> {
  const dir = mkdtempSync(join(tmpdir(), 'macsec-e2e-'));
  const db = join(dir, 'manager.db');
  let m: ManagerProcess = await spawnManager(pki, db);
  return {
    kind: 'one manager on SQLite',
    get port() {
      return m.port;
    },
    agentAddress: () => `127.0.0.1:${m.port}`,
    kill: () => m.kill('SIGKILL'),
    restart: async () => {
      m = await spawnManager(pki, db, m.port);
    },
    stop: async () => {
      await m.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function etcdDeployment(pki: TestPki, replicas = 2): Promise<Deployment> {
  const etcd: EtcdServer = await startEtcd();
  const dir = mkdtempSync(join(tmpdir(), 'macsec-e2e-etcd-'));
  const keyFile = join(dir, 'store.keys');
  writeFileSync(keyFile, `${Keyring.newKeyLine('k1')}\n`, { mode: 0o600 });
  const args = (i: number) => ['--store-key-file', keyFile, '--id', `r${i + 1}`];
  const ms: ManagerProcess[] = [];
  for (let i = 0; i < replicas; i++) ms.push(await spawnManager(pki, etcd.storeSpec, 0, [...args(i), ...(i ? ['--no-init'] : [])]));
  return {
    kind: `${replicas} manager replicas on etcd`,
    get port() {
      return ms[0]!.port;
    },
    agentAddress: (i) => ms.map((_, j) => `127.0.0.1:${ms[(i + j) % ms.length]!.port}`).join(','),
    kill: async () => {
      await Promise.all(ms.map((m) => m.kill('SIGKILL')));
    },
    restart: async () => {
      for (let i = 0; i < ms.length; i++) ms[i] = await spawnManager(pki, etcd.storeSpec, ms[i]!.port, [...args(i), '--no-init']);
    },
    stop: async () => {
      await Promise.all(ms.map((m) => m.kill()));
      await etcd.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const deployments: Array<[string, (pki: TestPki) => Promise<Deployment>]> = [
  ['sqlite', sqliteDeployment],
  ['etcd replicas', (pki) => etcdDeployment(pki, 2)],
];
