/**
 * Benchmark manager process: a Manager + gRPC server on SQLite, or one replica on etcd (argv:
 * dir, store — a path or etcd://…, replica id), answering memory, event-loop and metrics probes
 * over IPC.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createLogger } from '../../src/common/log.js';
import { Manager } from '../../src/manager/manager.js';
import { EtcdReplicas } from '../../src/manager/replicas/etcd.js';
import { EtcdStore, etcdEndpoints } from '../../src/manager/store/etcd.js';
import { Keyring } from '../../src/manager/store/keyring.js';
import { SqliteStore } from '../../src/manager/store/sqlite.js';
import { startManagerServer } from '../../src/manager/server.js';
import { loadTls, serverCredentials } from '../../src/control/tls.js';
import { renderManagerMetrics } from '../../src/manager/metrics.js';

const [dir, spec, id = 'bench'] = process.argv.slice(2) as [string, string, string?];
// BENCH_LOG=info (or debug, warn) prints the manager's log lines on stderr
const log = process.env.BENCH_LOG ? createLogger({ component: 'manager', id }, { level: process.env.BENCH_LOG as 'info' }) : undefined;
const etcd = spec.startsWith('etcd://');
const store = etcd
  ? await EtcdStore.open({ endpoints: etcdEndpoints(spec), keyring: Keyring.load(`${dir}/store.keys`), create: true, log })
  : new SqliteStore(spec, { create: true });
const replicas = store instanceof EtcdStore ? await EtcdReplicas.start({ client: store.etcd, storePrefix: store.keyPrefix, id, log }) : undefined;
const manager = new Manager(store, { id, ackTimeoutMs: 10_000, replicas, log });
const srv = await startManagerServer(
  manager,
  serverCredentials(loadTls({ ca: `${dir}/ca.crt`, cert: `${dir}/manager.crt`, key: `${dir}/manager.key` })),
  '127.0.0.1:0',
);
// The longest the event loop was blocked since the last 'eld' probe (10 ms resolution).
const eld = monitorEventLoopDelay({ resolution: 10 });
eld.enable();

process.on('message', (msg: { op: string }) => {
  if (msg.op === 'mem') {
    const gc = (globalThis as { gc?: () => void }).gc;
    for (let i = 0; i < 3; i++) gc?.();
    const mu = process.memoryUsage();
    process.send!({
      op: 'mem',
      rss: mu.rss,
      heapUsed: mu.heapUsed,
      external: mu.external,
      arrayBuffers: mu.arrayBuffers,
      connected: manager.connectedAgentIds().length,
    });
  } else if (msg.op === 'connected') {
    process.send!({ op: 'connected', connected: manager.connectedAgentIds().length });
  } else if (msg.op === 'eld') {
    process.send!({ op: 'eld', maxMs: eld.max / 1e6 });
    eld.reset();
  } else if (msg.op === 'metrics') {
    // Rendering time of /metrics (what a scrape costs the event loop), 5 times.
    const ms: number[] = [];
    let bytes = 0;
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      bytes = renderManagerMetrics(manager).length;
      ms.push(performance.now() - t);
    }
    process.send!({ op: 'metrics', ms, bytes });
  } else if (msg.op === 'cpu') {
    process.send!({ op: 'cpu', usage: process.cpuUsage(), at: performance.now() });
  } else if (msg.op === 'stop') {
    srv.forceShutdown();
    void Promise.resolve(replicas?.close()).finally(() => {
      store.close();
      process.exit(0);
    });
  }
});
process.send!({ op: 'ready', port: srv.port });
