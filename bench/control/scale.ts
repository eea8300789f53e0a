/**
 * Manager scale benchmark: N simulated agents (4 interfaces each, real mTLS streams over
 * loopback, in BENCH_PROCS child processes) on one manager process. Prints, with median and
 * spread (min–max of 5 calls):
 *   - the time for all agents to connect;
 *   - ListPorts at 1k, 2k, 4k, 8k ports (as many as the agents have interfaces);
 *   - CreateSecureChannel latency per band of 500 channels, up to BENCH_CHANNELS;
 *   - ListPorts with the channels, the manager's steady CPU, rendering /metrics and
 *     ListSecureChannels at that many channels.
 * Figures only, no assertions.
 *   npm run bench:scale        BENCH_AGENTS=2000 BENCH_PROCS=2 BENCH_CHANNELS=4000
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagerApi } from '../../src/control/client.js';
import { PortMode } from '../../src/control/gen/macsec/v1/types.js';
import { clientCredentials, loadTls } from '../../src/control/tls.js';
import { createCa, issue, writePair } from '../../src/pki/pki.js';

const N = Number(process.env.BENCH_AGENTS ?? 2000);
const PROCS = Number(process.env.BENCH_PROCS ?? 2);
const CHANNELS = Math.min(Number(process.env.BENCH_CHANNELS ?? 4000), 2 * Math.floor(N / 2) * 2);
const IFACES = 4;
const here = import.meta.dirname;

const child = (script: string, execArgv: string[] = [], args: string[] = []): ChildProcess =>
  fork(join(here, script), args, { execArgv: [...execArgv, '--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const next = <T>(c: ChildProcess, op: string): Promise<T> =>
  new Promise((resolve) => {
    const h = (m: { op: string }) => {
      if (m.op !== op) return;
      c.off('message', h);
      resolve(m as T);
    };
    c.on('message', h);
  });
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => sorted(xs)[Math.floor(xs.length / 2)]!;
const pct = (xs: number[], p: number) => sorted(xs)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const spread = (xs: number[]) => `median ${median(xs).toFixed(1)} ms (${sorted(xs)[0]!.toFixed(1)}–${sorted(xs).at(-1)!.toFixed(1)})`;

async function timed(n: number, f: () => Promise<unknown>): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f();
    ms.push(performance.now() - t);
  }
  return ms;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'macsec-scale-'));
  const ca = createCa();
  writePair(dir, 'ca', ca);
  writePair(dir, 'manager', issue(ca, { kind: 'manager', name: 'bench-manager' }));
  writePair(dir, 'admin', issue(ca, { kind: 'admin', name: 'bench' }));
  const ids = Array.from({ length: N }, (_, i) => `s${String(i).padStart(5, '0')}`);
  for (const id of ids) writePair(dir, `agent-${id}`, issue(ca, { kind: 'agent', name: id }));

  const mgr = child('manager-proc.ts', ['--expose-gc'], [dir, join(dir, 'bench.db')]);
  const { port } = await next<{ port: number }>(mgr, 'ready');
  const procs: ChildProcess[] = [];
  const connected = new Array<number>(PROCS).fill(0);
  const tc = Date.now();
  for (let p = 0; p < PROCS; p++) {
    const c = child('agents-proc.ts');
    await next(c, 'ready');
    c.on('message', (m: { op: string; connected: number }) => {
      if (m.op === 'progress') connected[p] = m.connected;
    });
    c.send({ op: 'start', dir, ids: ids.filter((_, i) => i % PROCS === p), ports: [port] });
    procs.push(c);
  }
  const marks = new Map<number, number>();
  for (let total = 0; total < N; total = connected.reduce((a, b) => a + b, 0)) {
    for (const m of [1000, 2000, 5000, 10000]) if (total >= m && !marks.has(m)) marks.set(m, Date.now() - tc);
    await new Promise((r) => setTimeout(r, 100));
    if (Date.now() - tc > 600_000) throw new Error(`only ${total} of ${N} agents connected`);
  }
  marks.set(N, Date.now() - tc);
  const out = { push: (l: string) => console.log(l) };
  console.log(`\n=== manager scale benchmark (${N} agents, loopback mTLS) ===`);
  out.push(`agents connected: ${[...marks].map(([n, ms]) => `${n} in ${(ms / 1000).toFixed(1)} s`).join(', ')}`);

  const api = new ManagerApi(
    `127.0.0.1:${port}`,
    clientCredentials(loadTls({ ca: join(dir, 'ca.crt'), cert: join(dir, 'admin.crt'), key: join(dir, 'admin.key') })),
  );
  await api.listAgents();
  // Open ports (8 calls at a time) up to 1k, 2k, 4k, 8k, measuring ListPorts at each step with
  // no other call running.
  const ports = ids.flatMap((id) => Array.from({ length: IFACES }, (_, i) => ({ id, iface: `eth${i + 1}` })));
  ports.sort((a, b) => a.iface.localeCompare(b.iface)); // eth1 of every agent first, and so on
  const opens: number[] = [];
  let k = 0;
  for (const step of [1000, 2000, 4000, 8000, 16000, 40000].filter((x) => x <= ports.length).concat(ports.length % 1000 ? [ports.length] : [])) {
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (k < step) {
          const p = ports[k++]!;
          const t = performance.now();
          await api.openPort({ agentId: p.id, interface: p.iface, mode: PortMode.PORT_MODE_PSK }, 30_000);
          opens.push(performance.now() - t);
        }
      }),
    );
    out.push(`ListPorts at ${step} ports: ${spread(await timed(5, () => api.listPorts('', 60_000)))}`);
  }
  out.push(
    `OpenPort (concurrency 8, ${opens.length} calls): p50 ${pct(opens, 50).toFixed(1)} ms, p99 ${pct(opens, 99).toFixed(1)} ms, max ${pct(opens, 100).toFixed(1)} ms`,
  );

  // Channels between the same interface of agents 2i and 2i+1, created one after another.
  const band: number[] = [];
  const half = Math.floor(N / 2);
  for (let c = 0; c < CHANNELS; c++) {
    const [a, b] = [ids[2 * (c % half)]!, ids[2 * (c % half) + 1]!];
    const iface = `eth${Math.floor(c / half) + 1}`;
    const t = performance.now();
    await api.createSecureChannel(
      {
        name: `ch-${c}`,
        endpoints: [
          { agentId: a, switchPort: iface, vnfId: `v${c}a`, vnfInterface: 'eth0' },
          { agentId: b, switchPort: iface, vnfId: `v${c}b`, vnfInterface: 'eth0' },
        ],
      },
      30_000,
    );
    band.push(performance.now() - t);
    if (band.length === 500) {
      out.push(`CreateSecureChannel, channels ${c - 498}–${c + 1}: ${spread(band)}, p99 ${pct(band, 99).toFixed(1)} ms`);
      band.length = 0;
    }
  }
  out.push(`ListPorts at ${ports.length} ports, ${CHANNELS} channels: ${spread(await timed(5, () => api.listPorts('', 60_000)))}`);
  // The manager's steady load with every channel secured: agent status reports (one per port
  // every 5 s) and heartbeats, nothing else.
  await new Promise((r) => setTimeout(r, 5000));
  type Cpu = { usage: NodeJS.CpuUsage; at: number };
  mgr.send({ op: 'cpu' });
  const c0 = await next<Cpu>(mgr, 'cpu');
  await new Promise((r) => setTimeout(r, 10_000));
  mgr.send({ op: 'cpu' });
  const c1 = await next<Cpu>(mgr, 'cpu');
  const busy = (c1.usage.user - c0.usage.user + c1.usage.system - c0.usage.system) / 1000 / (c1.at - c0.at);
  out.push(`manager CPU, steady, ${CHANNELS} channels on ${ports.length} ports: ${(busy * 100).toFixed(0)} % of one core (10 s)`);
  mgr.send({ op: 'metrics' });
  const m = await next<{ ms: number[]; bytes: number }>(mgr, 'metrics');
  out.push(`/metrics at ${CHANNELS} channels, ${ports.length} ports: ${spread(m.ms)}, ${(m.bytes / 1e6).toFixed(1)} MB`);
  out.push(`ListSecureChannels at ${CHANNELS} channels: ${spread(await timed(5, () => api.listSecureChannels(60_000)))}`);

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
