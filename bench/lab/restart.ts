/**
 * Re-securing after a restart, in one UML kernel lab run (`npm run bench:lab:restart`).
 *
 * A secured pair over a veth; one side ("r") is SIGKILLed just after one of its MKPDUs and
 * started again, REPS times in a row, while the other ("s") survives. Cases: ours<->ours with the
 * restarted side key server and member; ours<->wpa_supplicant 2.10 with ours restarted (key
 * server, member) and wpa restarted (key server, member). Our restarted agent is the compiled one
 * preloaded through test/lab/agent/warm-start.mjs (its modules are loaded before the kill, the go
 * file starts it): node start-up and module loading are not counted; the agent's own start path
 * (config, libpcap, netlink, the macsec link) is, up to its first MKPDU.
 *
 * Time zero is the restarted side's first MKPDU on the wire: the first frame from its MAC after
 * the launch in the capture on the survivor's veth (tcpdump, kernel timestamps, same clock as the
 * participants' logs). Measured to:
 *   rx  both sides have an RX SA for the other with a new key (one not in use before the kill),
 *       from each side's own log: ours "mka sakInstalled" role rx, wpa "enable_receive_sa" of an
 *       SA created with a new key id; the later of the two. The target (<= 1 s) is on this.
 *   tx  both sides transmit with a new key (ours "mka secured", wpa "enable_transmit_sa").
 * Nothing polls during a restart; WAIT_S later `ip macsec show` on both sides is checked (the
 * logged new keys must be active on the RX SC of the other side), the "check" column.
 *
 *   tsx bench/lab/restart.ts [--reps 5] [--wait 10] [--cases oo-ks,oo-member,...] [--debug] [--from <.lab/run-...>]
 *
 * --debug runs our agents at log level debug: the timelines then show each KaY step of theirs
 * (time in the KaY, waiting for earlier steps, SecY actions over netlink, sending).
 *
 * --from re-reads an earlier run without booting UML. Per restart a timeline (frames on the wire
 * with peer lists, SAK use and distributed SAKs, and both sides' log milestones, relative to time
 * zero) is written to <scenario>/timeline-<rep>.txt.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type DecodedFrameReport, decodeCapture } from '../../src/cli/mka-decode.js';
import { type LabScenario, runLab } from '../../test/lab/uml.js';

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    wait: { type: 'string', default: '10' },
    cases: { type: 'string' },
    from: { type: 'string' },
    debug: { type: 'boolean', default: false },
  },
});
const REPS = Number(values.reps);
const WAIT_S = Number(values.wait);
const TARGET_MS = 1000;
// The lab's test CAK/CKN (agent-lib.sh defaults), to decode the captured MKPDUs.
const LAB_CAK = Buffer.from('00112233445566778899aabbccddeeff', 'hex');
const LAB_CKN = Buffer.from('6162636465666768', 'hex');
const R_MAC = '02:00:00:00:00:0a';
const S_MAC = '02:00:00:00:00:0b';

type Kind = 'ours' | 'wpa';
interface Case {
  name: string;
  r: Kind;
  s: Kind;
  /** The restarted side is the key server. */
  rKs: boolean;
}
const ALL_CASES: Case[] = [
  { name: 'oo-ks', r: 'ours', s: 'ours', rKs: true },
  { name: 'oo-member', r: 'ours', s: 'ours', rKs: false },
  { name: 'ow-ours-ks', r: 'ours', s: 'wpa', rKs: true },
  { name: 'ow-ours-member', r: 'ours', s: 'wpa', rKs: false },
  { name: 'ow-wpa-ks', r: 'wpa', s: 'ours', rKs: true },
  { name: 'ow-wpa-member', r: 'wpa', s: 'ours', rKs: false },
];
const CASES = values.cases ? ALL_CASES.filter((c) => values.cases!.split(',').includes(c.name)) : ALL_CASES;

const describeCase = (c: Case) => `${c.r} restarted as ${c.rKs ? 'key server' : 'member'}, ${c.s} survives`;

const SCRIPT = 'source "$REPO/test/lab/agent/agent-lib.sh"\nsource "$REPO/bench/lab/restart.sh"\n';

interface RepLine {
  rep: number;
  instance: string;
  tKill: number;
  tLaunch: number;
  tCheck: number;
  newKeysActive: boolean;
}

/** A log milestone: ms since the epoch, what, and the key identifier when there is one. */
interface Mark {
  t: number;
  what: string;
  ki?: string;
}

interface SideLog {
  kind: Kind;
  marks: Mark[];
}

/** Our agent's JSON log lines that tell the story of a restart. */
function readOursLog(path: string): SideLog {
  const marks: Mark[] = [];
  if (!existsSync(path)) return { kind: 'ours', marks };
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const t = Date.parse(String(rec.ts));
    const msg = String(rec.msg);
    if (msg === 'mka dropped') continue;
    const ki = typeof rec.ki === 'string' ? rec.ki : undefined;
    if (msg === 'mka step') {
      // debug: logged when the step's SecY actions and MKPDUs are done
      const a = (rec.actions as string[]).join(',');
      marks.push({
        t,
        what: `step ${rec.trigger}: kay ${rec.kayMs} + wait ${rec.waitMs} + secy ${rec.secyMs} + send ${rec.sendMs} ms [${a}] ${rec.frames} MKPDU`,
      });
      continue;
    }
    const detail =
      msg === 'mka sakInstalled' ? ` ${String(rec.role)}` : msg === 'mka peerLive' || msg === 'mka peerLost' ? ` ${String(rec.mi).slice(0, 6)}` : '';
    marks.push({ t, what: `${msg}${detail}`, ...(ki ? { ki } : {}) });
  }
  return { kind: 'ours', marks };
}

const WPA_MARKS: [RegExp, string][] = [
  [/KaY: Create MKA/, 'Create MKA'],
  [/KaY: Selected (a new )?random MI/, 'selected MI'],
  [/Move potential peer to live peer/, 'peer live'],
  [/I am elected as key server/, 'elected self key server'],
  [/KaY: generated new SAK/, 'generated SAK'],
  [/duplicated SCI detected/, 'duplicated SCI: MKPDU ignored'],
  [/Delete (transmit|receive) SC|Delete receive SA|Delete transmit SA/, ''],
  [/CP: CP entering state (\w+)/, 'CP '],
  [/life time has not elapsed|Life time has not elapsed/, 'SAK rate limit'],
  [/peer ... is expired|Peer is expired|is removed from live peer|Expire/i, 'peer expired'],
];

/** wpa_supplicant -dd -t: "<epoch s.us>: text". Key ids from the "SA keyid" hexdump after each create_*_sa. */
function readWpaLog(path: string): SideLog {
  const marks: Mark[] = [];
  if (!existsSync(path)) return { kind: 'wpa', marks };
  let pendingCreate: 'rx' | 'tx' | null = null;
  const keyByAn: Record<string, string> = {};
  let lastAn = '';
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const m = /^(\d+\.\d+): (.*)$/.exec(line);
    if (!m) continue;
    const t = Number(m[1]) * 1000;
    const text = m[2]!;
    let c = /(create|enable)_(receive|transmit)_sa -> (\d+)/.exec(text);
    if (c) {
      const role = c[2] === 'receive' ? 'rx' : 'tx';
      lastAn = `${role}/${c[3]}`;
      if (c[1] === 'create') pendingCreate = role;
      else marks.push({ t, what: `enable ${role} SA an ${c[3]}`, ...(keyByAn[lastAn] ? { ki: keyByAn[lastAn] } : {}) });
      continue;
    }
    c = /SA keyid - hexdump\(len=16\): ([0-9a-f ]+)/.exec(text);
    if (c && pendingCreate) {
      keyByAn[lastAn] = c[1]!.replace(/ /g, '');
      marks.push({ t, what: `create ${pendingCreate} SA ${lastAn.split('/')[1]}`, ki: keyByAn[lastAn] });
      pendingCreate = null;
      continue;
    }
    for (const [re, label] of WPA_MARKS) {
      const w = re.exec(text);
      if (!w) continue;
      marks.push({ t, what: label === 'CP ' ? `CP ${w[1]}` : label || text.trim() });
      break;
    }
  }
  return { kind: 'wpa', marks };
}

const readSide = (kind: Kind, path: string) => (kind === 'ours' ? readOursLog(path) : readWpaLog(path));

/**
 * A key identifier as "MI#KN" whichever way the KN was written: ours (and the KI on the wire) is
 * MI||KN big-endian; wpa_supplicant hands the kernel MI||KN in host order (little-endian here).
 */
export function normKi(ki: string): string {
  const be = Number.parseInt(ki.slice(24), 16);
  const le = Number.parseInt(ki.slice(24).match(/../g)!.reverse().join(''), 16);
  return `${ki.slice(0, 24)}#${be < 1 << 24 ? be : le}`;
}

/** First RX SA (tx: transmitting) with a key not in `old` (normKi), at or after `from`. */
function firstNew(side: SideLog, role: 'rx' | 'tx', from: number, old: Set<string>): Mark | undefined {
  return side.marks.find((m) => {
    if (m.t < from || !m.ki || old.has(normKi(m.ki))) return false;
    if (side.kind === 'ours') return role === 'rx' ? m.what === 'mka sakInstalled rx' : m.what === 'mka secured';
    return m.what.startsWith(`enable ${role} SA`);
  });
}

/** `ip macsec show`: key ids of active RX SAs on RX SCs that are on (and the TX SA in use). */
function activeKeys(text: string): { rx: Set<string>; tx: string | null } {
  const rx = new Set<string>();
  let tx: string | null = null;
  let sc: 'rx' | 'tx' | null = null;
  let encodingSa: string | null = null;
  for (const line of text.split('\n')) {
    let m = /TXSC: [0-9a-f]+ on SA (\d+)/.exec(line);
    if (m) {
      sc = 'tx';
      encodingSa = m[1]!;
      continue;
    }
    m = /RXSC: [0-9a-f]+, state (\w+)/.exec(line);
    if (m) {
      sc = m[1] === 'on' ? 'rx' : null;
      continue;
    }
    m = /^\s+(\d+): PN \d+, state (\w+), key ([0-9a-f]+)/.exec(line);
    if (m && m[2] === 'on') {
      if (sc === 'rx') rx.add(m[3]!);
      else if (sc === 'tx' && m[1] === encodingSa) tx = m[3]!;
    }
  }
  return { rx, tx };
}

const read = (dir: string, f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : '');

interface RepResult {
  rep: number;
  ok: boolean;
  why?: string;
  /** launch (go file / fork) -> first MKPDU */
  startupMs?: number;
  rxMs?: number;
  txMs?: number;
  /** the restarted side / the survivor: its RX SA with a new key */
  rRxMs?: number;
  sRxMs?: number;
  /** ours: its "first MKPDU sent" log line relative to the capture's first frame */
  firstLogMs?: number;
  check?: string;
}

const rel = (t: number, t0: number) => `${t >= t0 ? '+' : ''}${((t - t0) / 1000).toFixed(3)}`;
const short = (mi: string) => mi.slice(0, 6);

function frameLine(f: DecodedFrameReport, t0: number, who: (mi: string) => string): string {
  const from = f.src === R_MAC ? 'r' : f.src === S_MAC ? 's' : f.src;
  const peers = (l: { mi: string; mn: number }[]) => l.map((p) => `${who(p.mi)}/${p.mn}`).join(' ');
  const parts = [`${rel(f.time * 1000, t0)}  wire ${from}  MI ${who(f.mi)} MN ${f.mn}${f.keyServer ? ' KS' : ''}`];
  if (f.livePeers.length) parts.push(`live[${peers(f.livePeers)}]`);
  if (f.potentialPeers.length) parts.push(`pot[${peers(f.potentialPeers)}]`);
  if (f.sakUse) {
    const k = (x: { an: number; kn: number; keyServerMi: string; tx: boolean; rx: boolean }) =>
      x.kn === 0 ? '-' : `${who(x.keyServerMi)}#${x.kn}/an${x.an}${x.rx ? ' rx' : ''}${x.tx ? ' tx' : ''}`;
    parts.push(`sakUse{latest ${k(f.sakUse.latest)}; old ${k(f.sakUse.old)}}`);
  }
  if (f.distributedSak) parts.push(`DSAK kn ${f.distributedSak.kn} an ${f.distributedSak.an}`);
  return parts.join('  ');
}

function analyseRep(c: Case, dir: string, rep: RepLine, frames: DecodedFrameReport[], s: SideLog): RepResult {
  const r = readSide(c.r, join(dir, `${rep.instance}.log`));
  const pre = read(dir, `rep${rep.rep}.pre.txt`);
  const old = new Set([...pre.matchAll(/key ([0-9a-f]{32})/g)].map((m) => normKi(m[1]!)));
  const first = frames.find((f) => f.src === R_MAC && f.time * 1000 >= rep.tLaunch);
  if (!first) return { rep: rep.rep, ok: false, why: 'no MKPDU from the restarted side in the capture' };
  const t0 = first.time * 1000;
  const rRx = firstNew(r, 'rx', rep.tLaunch, old);
  const sRx = firstNew(s, 'rx', rep.tKill, old);
  const rTx = firstNew(r, 'tx', rep.tLaunch, old);
  const sTx = firstNew(s, 'tx', rep.tKill, old);
  // Timeline: the wire and both logs, from the kill until shortly after both transmit the new key.
  const until = Math.min(rep.tCheck, Math.max(rTx?.t ?? 0, sTx?.t ?? 0, rRx?.t ?? 0, sRx?.t ?? 0, t0) + 2500);
  const names = new Map<string, string>();
  const who = (mi: string) => names.get(mi) ?? short(mi);
  for (const f of frames) {
    if (names.has(f.mi)) continue;
    const side = f.src === R_MAC ? (f.time * 1000 >= rep.tLaunch ? 'r.new' : 'r.old') : 's';
    names.set(f.mi, `${side}:${short(f.mi)}`);
  }
  const lines: [number, string][] = [
    [rep.tKill, 'bench: SIGKILL r'],
    [rep.tLaunch, `bench: launch r (${c.r === 'ours' ? 'go file of the preloaded agent' : 'fork wpa_supplicant'})`],
  ];
  for (const f of frames) if (f.time * 1000 >= rep.tKill && f.time * 1000 <= until) lines.push([f.time * 1000, frameLine(f, t0, who)]);
  for (const [side, log, from] of [
    ['r', r, rep.tLaunch],
    ['s', s, rep.tKill],
  ] as const) {
    for (const m of log.marks)
      if (m.t >= from && m.t <= until) lines.push([m.t, `${side} log  ${m.what}${m.ki ? ` ${who(m.ki.slice(0, 24))}#${normKi(m.ki).split('#')[1]}` : ''}`]);
  }
  lines.sort((x, y) => x[0] - y[0]);
  writeFileSync(
    join(dir, `timeline-${rep.rep}.txt`),
    `${c.name}: ${describeCase(c)}, restart ${rep.rep}; times in s from r's first MKPDU\n${lines.map(([t, l]) => (l.startsWith('+') || l.startsWith('-') ? l : `${rel(t, t0)}  ${l}`)).join('\n')}\n`,
  );
  const res: RepResult = { rep: rep.rep, ok: false, startupMs: t0 - rep.tLaunch };
  const logged = r.marks.find((m) => m.what === 'first MKPDU sent' && m.t >= rep.tLaunch);
  if (logged) res.firstLogMs = logged.t - t0;
  if (!rRx || !sRx) {
    res.why = `no RX SA with a new key: restarted ${rRx ? 'yes' : 'no'}, survivor ${sRx ? 'yes' : 'no'}`;
    return res;
  }
  res.rRxMs = rRx.t - t0;
  res.sRxMs = sRx.t - t0;
  res.rxMs = Math.max(rRx.t, sRx.t) - t0;
  if (rTx && sTx) res.txMs = Math.max(rTx.t, sTx.t) - t0;
  // Cross-check: the logged new RX keys are active in `ip macsec show` afterwards.
  const postR = activeKeys(read(dir, `rep${rep.rep}.post.r.txt`));
  const postS = activeKeys(read(dir, `rep${rep.rep}.post.s.txt`));
  const issues: string[] = [];
  if (!postR.rx.has(rRx.ki!)) issues.push(`r: ${rRx.ki} not active`);
  if (!postS.rx.has(sRx.ki!)) issues.push(`s: ${sRx.ki} not active`);
  if (!rep.newKeysActive) issues.push('no new key active at the check');
  res.check = issues.length ? issues.join('; ') : 'ok';
  res.ok = true;
  return res;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const f3 = (ms: number | undefined) => (ms === undefined ? '   n/a' : (ms / 1000).toFixed(3));
const spread = (xs: number[]) => (xs.length ? `${f3(Math.min(...xs))}..${f3(Math.max(...xs))}` : 'n/a');

function analyseCase(c: Case, dir: string): RepResult[] {
  const reps = read(dir, 'reps.jsonl')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as RepLine);
  const cap = join(dir, 'cap.pcap');
  const frames = existsSync(cap) ? decodeCapture(readFileSync(cap), { cak: LAB_CAK, ckn: LAB_CKN }).reports : [];
  const s = readSide(c.s, join(dir, 's.log'));
  return reps.map((rep) => analyseRep(c, dir, rep, frames, s));
}

async function main(): Promise<void> {
  let runDir: string;
  if (values.from) {
    runDir = values.from;
  } else {
    const scenarios: LabScenario[] = CASES.map((c) => ({
      name: c.name,
      script: SCRIPT,
      timeoutMs: 120_000 + REPS * (WAIT_S + 40) * 1000,
      env: { R_KIND: c.r, S_KIND: c.s, R_KS: c.rKs ? '1' : '0', REPS: String(REPS), WAIT_S: String(WAIT_S), AGENT_LOG_LEVEL: values.debug ? 'debug' : 'info' },
    }));
    console.log(`restart: ${CASES.length} cases x ${REPS} restarts in one UML run`);
    const lab = await runLab({ scenarios });
    console.log(`UML boot ${lab.bootMs} ms, total ${(lab.totalMs / 1000).toFixed(1)} s, results in ${lab.runDir}`);
    for (const s of lab.scenarios)
      if (s.exitCode !== 0) console.log(`  ${s.name}: exit ${s.exitCode}${s.timedOut ? ' (timed out)' : ''}\n${s.stderr.slice(-1500)}`);
    runDir = lab.runDir;
  }
  const rows: { c: Case; res: RepResult[] }[] = [];
  console.log("\nper restart (s from the restarted side's first MKPDU; startup = launch -> first MKPDU)");
  for (const c of CASES) {
    const dir = join(runDir, c.name);
    if (!existsSync(dir)) continue;
    const res = analyseCase(c, dir);
    rows.push({ c, res });
    for (const x of res) {
      console.log(
        `  ${c.name.padEnd(15)} #${x.rep}  ${x.ok ? `rx ${f3(x.rxMs)} (r ${f3(x.rRxMs)}, s ${f3(x.sRxMs)})  tx ${f3(x.txMs)}  startup ${f3(x.startupMs)}${x.firstLogMs !== undefined ? ` (log ${x.firstLogMs >= 0 ? '+' : ''}${Math.round(x.firstLogMs)} ms)` : ''}  check ${x.check}` : `FAILED: ${x.why}`}`,
      );
    }
  }
  console.log(`\nmedians and min..max over the restarts (s); target: rx <= ${f3(TARGET_MS)}`);
  console.log('case             n  rx median  rx min..max    tx median  tx min..max    startup median  target');
  for (const { c, res } of rows) {
    const ok = res.filter((x) => x.ok);
    const rx = ok.map((x) => x.rxMs!);
    const tx = ok.filter((x) => x.txMs !== undefined).map((x) => x.txMs!);
    const st = res.filter((x) => x.startupMs !== undefined).map((x) => x.startupMs!);
    const m = rx.length ? median(rx) : NaN;
    console.log(
      `${c.name.padEnd(16)} ${String(ok.length).padEnd(2)} ${f3(rx.length ? m : undefined).padStart(9)}  ${spread(rx).padEnd(13)}  ${f3(tx.length ? median(tx) : undefined).padStart(9)}  ${spread(tx).padEnd(13)}  ${f3(st.length ? median(st) : undefined).padStart(14)}  ${rx.length && m <= TARGET_MS ? 'MET' : 'NOT MET'}${res.length > ok.length ? ` (${res.length - ok.length} failed)` : ''}   ${describeCase(c)}`,
    );
  }
  console.log(`\ntimelines: ${runDir}/<case>/timeline-<n>.txt`);
  if (rows.some((r) => r.res.some((x) => !x.ok)) || rows.length < CASES.length) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
