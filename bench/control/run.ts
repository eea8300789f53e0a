/**
 * Control-plane benchmark: N simulated agents (default 1000, in BENCH_PROCS child processes, each
 * agent with its own mTLS connection over loopback) connected to one manager (its own process),
 * or to BENCH_REPLICAS replicas on a real etcd (BENCH_STORE=etcd; each agent takes every
 * replica's address). Prints the manager's memory per connected agent stream, the time to
 * connect them all, p50/p99 of OpenPort round trips (operator → manager → agent → ack →
 * operator) under that load, ListPorts over every port with the longest event-loop block it
 * caused, and with replicas, the time for the agents of a replica killed with SIGKILL to be at
 * the others. Figures only; no assertions.
 *   npm run bench:control    BENCH_AGENTS=1000 BENCH_PROCS=2 BENCH_OPENS=1000 BENCH_CONCURRENCY=1,8
 *                            BENCH_STORE=sqlite|etcd BENCH_REPLICAS=1 (etcd: 2)
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, issue, writePair } from '../../src/pki/pki.js';
import { ManagerApi } from '../../src/control/client.js';
import { clientCredentials, loadTls } from '../../src/control/tls.js';
import { PortMode } from '../../src/control/gen/macsec/v1/types.js';
import { Keyring } from '../../src/manager/store/keyring.js';
import { type EtcdServer, startEtcd } from '../../test/support/etcd.js';

const N = Number(process.env.BENCH_AGENTS ?? 1000);
const PROCS = Number(process.env.BENCH_PROCS ?? 2);
const OPENS = Number(process.env.BENCH_OPENS ?? N);
const CONCS = (process.env.BENCH_CONCURRENCY ?? '1,8').split(',').map(Number).slice(0, 4);
const ETCD = process.env.BENCH_STORE === 'etcd';
const REPLICAS = Number(process.env.BENCH_REPLICAS ?? (ETCD ? 2 : 1));
if (REPLICAS > 1 && !ETCD) throw new Error('BENCH_REPLICAS > 1 needs BENCH_STORE=etcd');
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
  const ids = Array.from({ length: N }, (_, i) => `b${String(i).padStart(5, '0')}`);
  for (const id of ids) writePair(dir, `agent-${id}`, issue(ca, { kind: 'agent', name: id }));
  console.log(`issued ${N + 2} certificates in ${Date.now() - t0} ms`);

  let etcd: EtcdServer | undefined;
  if (ETCD) {
    etcd = await startEtcd();
    writeFileSync(join(dir, 'store.keys'), `${Keyring.newKeyLine('k1')}\n`, { mode: 0o600 });
  }
  const mgrs: ChildProcess[] = [];
  const ports: number[] = [];
  for (let r = 0; r < REPLICAS; r++) {
    const m = child(
      'manager-proc.ts',
      [dir, etcd ? etcd.storeSpec : join(dir, 'bench.db'), `r${r + 1}`],
      ['--expose-gc', ...(process.env.BENCH_MANAGER_NODE_ARGS?.split(' ').filter(Boolean) ?? [])],
    );
    ports.push((await next<{ port: number }>(m, 'ready')).port);
    mgrs.push(m);
  }
  const mgr = mgrs[0]!;
  const port = ports[0]!;
  const ask = async <T>(m: ChildProcess, op: string) => {
    m.send({ op });
    return next<T>(m, op);
  };
  const mem = () => ask<{ rss: number; heapUsed: number; external: number; arrayBuffers: number; connected: number }>(mgr, 'mem');
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
    c.send({ op: 'start', dir, ids: ids.filter((_, i) => i % PROCS === p), ports });
    procs.push(c);
  }
  while (connected.reduce((a, b) => a + b, 0) < N) {
    await new Promise((r) => setTimeout(r, 250));
    if (Date.now() - tc > 900_000) throw new Error(`only ${connected.reduce((a, b) => a + b, 0)} of ${N} agents connected`);
  }
  const connectMs = Date.now() - tc;
  console.log(`${N} agents connected (${PROCS} processes, ${REPLICAS} replica(s)) in ${connectMs} ms`);
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
        `p50 ${pct(lat, 50).toFixed(1)} ms, p90 ${pct(lat, 90).toFixed(1)} ms, p99 ${pct(lat, 99).toFixed(1)} ms, max ${lat[lat.length - 1]!.toFixed(1)} ms   (target p99 < 50 ms)`,
    );
  }
  const after = await mem();

  // ListPorts over every port (the client joins pages of 1,000), and the longest event-loop block it caused.
  await ask(mgr, 'eld');
  const listMs: number[] = [];
  let nPorts = 0;
  for (let i = 0; i < 5; i++) {
    const s = performance.now();
    nPorts = (await api.listPorts()).ports.length;
    listMs.push(performance.now() - s);
  }
  const listBlock = (await ask<{ maxMs: number }>(mgr, 'eld')).maxMs;
  listMs.sort((a, b) => a - b);

  // Fail-over: kill -9 of the first replica; time until every agent is at another one.
  let failover = '';
  if (REPLICAS > 1) {
    const atFirst = loaded.connected;
    const tk = Date.now();
    mgr.kill('SIGKILL');
    const rest = mgrs.slice(1);
    for (;;) {
      const n = (await Promise.all(rest.map((m) => ask<{ connected: number }>(m, 'connected')))).reduce((a, b) => a + b.connected, 0);
      if (n >= N) break;
      if (Date.now() - tk > 120_000) throw new Error(`after the kill only ${n} of ${N} agents are at another replica`);
      await new Promise((r) => setTimeout(r, 100));
    }
    failover = `fail-over, kill -9 of a replica: its ${atFirst} agents at the others in ${Date.now() - tk} ms`;
  }

  console.log('\n=== control-plane benchmark (loopback mTLS) ===');
  console.log(`store:                       ${ETCD ? `etcd, ${REPLICAS} replica(s); figures of replica 1` : 'SQLite, one manager'}`);
  console.log(`agents connected:            ${N} in ${connectMs} ms (${loaded.connected} at replica 1)`);
  console.log(`manager memory, baseline:    rss ${kib(base.rss)} KiB, heap+external ${kib(base.heapUsed + base.external)} KiB`);
  console.log(`manager memory, ${N} agents: rss ${kib(loaded.rss)} KiB, heap+external ${kib(loaded.heapUsed + loaded.external)} KiB`);
  console.log(`memory per agent stream:     rss ${kib(perAgentRss)} KiB, heap+external ${kib(perAgentHeap)} KiB   (target < 64 KiB)`);
  for (const r of results) console.log(r);
  console.log(`manager memory after opens:  rss ${kib(after.rss)} KiB`);
  console.log(
    `ListPorts, ${nPorts} ports:       median ${pct(listMs, 50).toFixed(0)} ms (${listMs.map((x) => x.toFixed(0)).join(', ')}), ` +
      `longest event-loop block ${listBlock.toFixed(0)} ms   (targets < 100 ms, block < 20 ms)`,
  );
  if (failover) console.log(failover);

  api.close();
  for (const c of procs) c.send({ op: 'stop' });
  for (const m of mgrs) if (m.exitCode === null && m.signalCode === null) m.send({ op: 'stop' });
  await new Promise((r) => setTimeout(r, 1000));
  for (const c of [...procs, ...mgrs]) if (c.exitCode === null) c.kill('SIGKILL');
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
