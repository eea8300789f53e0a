/** Benchmark manager process: a Manager + gRPC server, answering memory probes over IPC. */
import { Manager } from '../../src/manager/manager.js';
import { SqliteStore } from '../../src/manager/store/sqlite.js';
import { startManagerServer } from '../../src/manager/server.js';
import { loadTls, serverCredentials } from '../../src/control/tls.js';
import { renderManagerMetrics } from '../../src/manager/metrics.js';

const [dir, db] = process.argv.slice(2) as [string, string];
const store = new SqliteStore(db, { create: true });
const manager = new Manager(store, { id: 'bench', ackTimeoutMs: 10_000 });
const srv = await startManagerServer(
  manager,
  serverCredentials(loadTls({ ca: `${dir}/ca.crt`, cert: `${dir}/manager.crt`, key: `${dir}/manager.key` })),
  '127.0.0.1:0',
);

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
    store.close();
    process.exit(0);
  }
});
process.send!({ op: 'ready', port: srv.port });
