/**
 * Control-plane benchmark: N simulated agents (default 1000, in BENCH_PROCS child processes, each
 * agent with its own mTLS connection over loopback) connected to one manager (its own process).
 * Prints the manager's memory per connected agent stream and p50/p99 of OpenPort round trips
 * (operator → manager → agent → ack → operator) under that load. Figures only; no assertions.
 *   npm run bench:control            BENCH_AGENTS=1000 BENCH_PROCS=2 BENCH_OPENS=1000 BENCH_CONCURRENCY=1,8
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, issue, writePair } from '../../src/pki/pki.js';
import { ManagerApi } from '../../src/control/client.js';
import { clientCredentials, loadTls } from '../../src/control/tls.js';
import { PortMode } from '../../src/control/gen/macsec/v1/types.js';

const N = Number(process.env.BENCH_AGENTS ?? 1000);
const PROCS = Number(process.env.BENCH_PROCS ?? 2);
const OPENS = Number(process.env.BENCH_OPENS ?? N);
const CONCS = (process.env.BENCH_CONCURRENCY ?? '1,8').split(',').map(Number).slice(0, 4);
const here = import.meta.dirname;

function child(script: string, args: string[], execArgv: string[] = []): ChildProcess {
  return fork(join(here, script), args, { execArgv: [...execArgv, '--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}
function next<T>(c: ChildProcess, op: string): Promise<T> {
  return new Promise((resolve) => {
    const h = (m: { op: string }) => {
      if (m.op === op) {
        c.off('message', h);
        resolve(m as T);
      }
    };
    c.on('message', h);
  });
}
const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const kib = (b: number) => (b / 1024).toFixed(1);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'macsec-bench-'));
  const t0 = Date.now();
  const ca = createCa();
  writePair(dir, 'ca', ca);
  writePair(dir, 'manager', issue(ca, { kind: 'manager', name: 'bench-manager' }));
  writePair(dir, 'admin', issue(ca, { kind: 'admin', name: 'bench' }));
  const ids = Array.from({ length: N }, (_, i) => `b${String(i).padStart(4, '0')}`);
  for (const id of ids) writePair(dir, `agent-${id}`, issue(ca, { kind: 'agent', name: id }));
  console.log(`issued ${N + 2} certificates in ${Date.now() - t0} ms`);

  const mgr = child('manager-proc.ts', [dir, join(dir, 'bench.db')], ['--expose-gc']);
  const { port } = await next<{ port: number }>(mgr, 'ready');
  const mem = async () => {
    mgr.send({ op: 'mem' });
    return next<{ rss: number; heapUsed: number; external: number; arrayBuffers: number; connected: number }>(mgr, 'mem');
  };
  await new Promise((r) => setTimeout(r, 500));
  const base = await mem();
  console.log(`manager baseline: rss ${kib(base.rss)} KiB, heap ${kib(base.heapUsed)} KiB`);

  const procs: ChildProcess[] = [];
  const connected = new Array<number>(PROCS).fill(0);
  const tc = Date.now();
  for (let p = 0; p < PROCS; p++) {
    const c = child('agents-proc.ts', []);
    await next(c, 'ready');
    c.on('message', (m: { op: string; connected: number }) => {
      if (m.op === 'progress') connected[p] = m.connected;
    });
    c.send({ op: 'start', dir, ids: ids.filter((_, i) => i % PROCS === p), port });
    procs.push(c);
  }
  while (connected.reduce((a, b) => a + b, 0) < N) {
    await new Promise((r) => setTimeout(r, 250));
    if (Date.now() - tc > 300_000) throw new Error(`only ${connected.reduce((a, b) => a + b, 0)} of ${N} agents connected`);
  }
  console.log(`${N} agents connected (${PROCS} processes) in ${Date.now() - tc} ms`);
  await new Promise((r) => setTimeout(r, 2000));
  const loaded = await mem();
  const perAgentRss = (loaded.rss - base.rss) / loaded.connected;
  const perAgentHeap = (loaded.heapUsed + loaded.external - base.heapUsed - base.external) / loaded.connected;

  const api = new ManagerApi(
    `127.0.0.1:${port}`,
    clientCredentials(loadTls({ ca: join(dir, 'ca.crt'), cert: join(dir, 'admin.crt'), key: join(dir, 'admin.key') })),
  );
  await api.listAgents(); // warm the operator connection
  const results: string[] = [];
  for (const [level, CONC] of CONCS.entries()) {
    const lat: number[] = [];
    let errors = 0;
    let k = 0;
    const tl = Date.now();
    await Promise.all(
      Array.from({ length: CONC }, async () => {
        while (k < OPENS) {
          const id = ids[k++ % N]!;
          const s = performance.now();
          try {
            await api.openPort({ agentId: id, interface: `eth${level + 1}`, mode: PortMode.PORT_MODE_PSK });
            lat.push(performance.now() - s);
          } catch (e) {
            errors++;
            if (errors < 5) console.error('OpenPort failed:', (e as Error).message);
          }
        }
      }),
    );
    const dur = Date.now() - tl;
    lat.sort((a, b) => a - b);
    results.push(
      `OpenPort, concurrency ${String(CONC).padEnd(3)}    ${lat.length} ok, ${errors} failed, ${(lat.length / (dur / 1000)).toFixed(0)}/s; ` +
        `p50 ${pct(lat, 50).toFixed(1)} ms, p90 ${pct(lat, 90).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms, max ${lat[lat.length - 1]!.toFixed(1)} ms   (target p99 < 100 ms)`,
    );
  }
  const after = await mem();

  console.log('\n=== control-plane benchmark (loopback mTLS) ===');
  console.log(`agents connected:            ${loaded.connected}`);
  console.log(`manager memory, baseline:    rss ${kib(base.rss)} KiB, heap+external ${kib(base.heapUsed + base.external)} KiB`);
  console.log(`manager memory, ${N} agents: rss ${kib(loaded.rss)} KiB, heap+external ${kib(loaded.heapUsed + loaded.external)} KiB`);
  console.log(`memory per agent stream:     rss ${kib(perAgentRss)} KiB, heap+external ${kib(perAgentHeap)} KiB   (target < 100 KiB)`);
  for (const r of results) console.log(r);
  console.log(`manager memory after opens:  rss ${kib(after.rss)} KiB`);

  api.close();
  for (const c of procs) c.send({ op: 'stop' });
  mgr.send({ op: 'stop' });
  await new Promise((r) => setTimeout(r, 1000));
  for (const c of [...procs, mgr]) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
