/**
 * MKA groups that mix our PSK agent with wpa_supplicant 2.10 on one Linux bridge, in the UML
 * kernel lab (one boot for the whole file). The failures this guards against are intermittent,
 * so every scenario runs twice:
 * - 4 members (2 ours + 2 wpa), key server ours by priority and wpa by priority, each with three
 *   start patterns: simultaneous; staggered (one member every 0.7 s, key server first); late
 *   joiner (3 members secured and pinging first, then the 4th joins);
 * - the late joiner's first phase is a 3-member group, checked on its own: 2 ours + 1 wpa with
 *   ours key server (before a wpa joins), 1 ours + 2 wpa with wpa key server (before ours joins);
 * - key server by SCI tie-break (all priorities equal, simultaneous start): run 1 with the
 *   lowest MAC ours, run 2 with the lowest MAC wpa.
 * Each check, from `ip -j macsec show` and `ip macsec show` in every member's namespace: an RX
 * SC (state on) with an active RX SA for every other member's SCI; 5 pings for every ordered
 * pair, zero loss; our agents secured, with the expected key server and every other member live.
 * Evidence recorded per run (<scenario>/result.json, console, mixed-groups-summary.json), not
 * checked: time to every RX SA, per wpa member the MI resets, SAKs generated / installed and
 * rate-limited distributions from its debug log, per agent of ours its SAK and MI counters.
 * The bash side is `group_run` in agent-lib.sh: it dumps raw output with as few execs as it can
 * inside UML; this file reads, judges and summarises it.
 * MIXED_GROUPS=name,name (scenario names, e.g. g4-wpa-ks-late-1) runs only those, for debugging.
 */
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type LabResult, REPO_ROOT, readOutJson, runLab, type ScenarioResult } from '../uml.js';
import {
  agentScenario,
  expectPingsClean,
  type MacsecShow,
  type NsState,
  type PingResult,
  type PskPortStatus,
  readOut,
  rxSciWithActiveSa,
  scenarioOk,
  secs,
} from './lab-agent.js';

type Kind = 'ours' | 'wpa';
type Start = 'simultaneous' | 'staggered' | 'late';
type PhaseName = 'first' | 'all';

interface Member {
  name: string;
  kind: Kind;
  mac: string;
  prio: number;
}

interface Group {
  id: string;
  what: string;
  /** In start order; for a late join the last member is the joiner. */
  members: Member[];
}

/** Seconds to wait for every RX SA after the last launch (per phase). */
const SECURE_TIMEOUT_S = 20;
const PINGS = 5;

const mac = (n: number) => `02:00:00:00:00:${n.toString(16).padStart(2, '0')}`;
const m = (name: string, kind: Kind, macN: number, prio: number): Member => ({ name, kind, mac: mac(macN), prio });
const sciOf = (x: { mac: string }) => `${x.mac.replaceAll(':', '')}0001`;

// Staggered starts go in this order: key server first, then alternating kinds.
const OURS_KS: Group = {
  id: 'g4-ours-ks',
  what: '2 ours + 2 wpa, ours key server by priority',
  members: [m('o1', 'ours', 1, 16), m('w1', 'wpa', 2, 32), m('o2', 'ours', 3, 48), m('w2', 'wpa', 4, 64)],
};
const WPA_KS: Group = {
  id: 'g4-wpa-ks',
  what: '2 ours + 2 wpa, wpa key server by priority',
  members: [m('w1', 'wpa', 1, 16), m('o1', 'ours', 2, 32), m('w2', 'wpa', 3, 48), m('o2', 'ours', 4, 64)],
};
const TIE_OURS: Group = {
  id: 'g4-tie-ours',
  what: '2 ours + 2 wpa, equal priority, lowest SCI ours',
  members: [m('o1', 'ours', 1, 32), m('w1', 'wpa', 2, 32), m('o2', 'ours', 3, 32), m('w2', 'wpa', 4, 32)],
};
const TIE_WPA: Group = {
  id: 'g4-tie-wpa',
  what: '2 ours + 2 wpa, equal priority, lowest SCI wpa',
  members: [m('w1', 'wpa', 1, 32), m('o1', 'ours', 2, 32), m('w2', 'wpa', 3, 32), m('o2', 'ours', 4, 32)],
};
/** What the first three members of a late join are (the joiner is the last member). */
const FIRST3: Record<string, { id: string; what: string }> = {
  'g4-ours-ks': { id: 'g3-ours-ks', what: '2 ours + 1 wpa, ours key server by priority' },
  'g4-wpa-ks': { id: 'g3-wpa-ks', what: '1 ours + 2 wpa, wpa key server by priority' },
};

const SHORT: Record<Start, string> = { simultaneous: 'sim', staggered: 'stag', late: 'late' };

interface Case {
  name: string;
  group: Group;
  start: Start;
  run: number;
}

const c = (group: Group, start: Start, run: number): Case => ({ name: `${group.id}-${SHORT[start]}-${run}`, group, start, run });
// Round 1 of every scenario, then round 2: the two runs of a scenario are not back to back.
const ALL_CASES: Case[] = [1, 2].flatMap((run) => [
  c(OURS_KS, 'simultaneous', run),
  c(WPA_KS, 'simultaneous', run),
  // the SCI tie-break scenario: lowest MAC ours in run 1, wpa in run 2
  run === 1 ? c(TIE_OURS, 'simultaneous', 1) : c(TIE_WPA, 'simultaneous', 1),
  c(OURS_KS, 'staggered', run),
  c(WPA_KS, 'staggered', run),
  // late joiner: a wpa_supplicant joins our key server's group, ours joins wpa's
  c(OURS_KS, 'late', run),
  c(WPA_KS, 'late', run),
]);
const ONLY = process.env.MIXED_GROUPS?.split(',').filter(Boolean);
/** MIXED_GROUPS_FROM=<.lab/run-...>: judge an earlier run's output again instead of booting UML. */
const FROM = process.env.MIXED_GROUPS_FROM;
const CASES = ALL_CASES.filter((x) => !ONLY || ONLY.includes(x.name));

/** MKA key server election: lowest priority value, then lowest SCI. */
function expectedKeyServer(members: Member[]): Member {
  return [...members].sort((a, b) => a.prio - b.prio || sciOf(a).localeCompare(sciOf(b)))[0]!;
}

interface WpaStats {
  /** MI resets: SAK Use that failed to decode in an MKPDU without Distributed SAK, plus "peer using my MI". */
  miResets: number;
  miResetsSakUse: number;
  miResetsPeerUsingMine: number;
  /** MI resets by the member whose MKPDU wpa_supplicant was decoding (Ethernet source address). */
  miResetsBy: Record<string, number>;
  /**
   * Of those, resets on an MKPDU that listed this member's MI (the sender had heard it, so it could
   * have left SAK Use out), by sender. An MKPDU that does not list it was sent before its sender
   * heard this member at all (e.g. a hello on its way while wpa_supplicant starts).
   */
  miResetsListedBy: Record<string, number>;
  /** "The peer (...) is not my live peer - ignore MACsec SAK Use parameter set". */
  sakUseFromNonLivePeer: number;
  /** As key server ("KaY: generated new SAK"). */
  saksGenerated: number;
  /** From a key server ("AES Key Unwrap of SAK": new keys only; a repeated one is not unwrapped). */
  saksInstalled: number;
  /** "Life time has not elapsed since prior SAK distributed": a distribution its 6 s limit blocked. */
  distributionsRateLimited: number;
  peersMadeLive: number;
  livePeersRemoved: number;
  lastElection: string;
}

interface PhaseJson {
  members: string[];
  /** Guest ms: every RX SA (null: not within the timeout), the warm-up ping round passed, pings done. */
  rxSas: number | null;
  warm: number | null;
  pinged: number;
  /** First poll at which each member had every RX SA. */
  complete: Record<string, number | null>;
  /** Per member, the members it lacks an active RX SA for, at the deadline and after the pings. */
  missing: { atDeadline: Record<string, string[]>; final: Record<string, string[]> };
}

/** What group_run writes ($OUT/run.json); times are guest ms since the epoch. */
interface RunJson {
  start: Start;
  timeoutS: number;
  pingCount: number;
  staggerMs: number;
  timing: { start: number; join: number | null };
  members: { name: string; kind: Kind; mac: string; priority: number; ip: string; sci: string; launch: number | null }[];
  phases: Partial<Record<PhaseName, PhaseJson>>;
}

type MemberResult = RunJson['members'][number] & {
  /** When it first spoke MKA (from its own log), guest ms. */
  up: number | null;
  complete: number | null;
  status?: PskPortStatus | null;
  wpa?: WpaStats;
};

interface PhaseResult extends Omit<PhaseJson, 'members' | 'complete'> {
  phase: PhaseName;
  start: Start;
  timeoutS: number;
  pingCount: number;
  /** First launch of the run; last launch of this phase's members (late "all": the joiner). */
  t0: number;
  lastLaunch: number;
  keyServer: string;
  members: MemberResult[];
  pings: (PingResult & { toMember: string })[];
  state: Record<string, NsState>;
  problems: string[];
  /** Late join: the key server's last SAK before the join, the joiner's first MKPDU (guest ms). */
  join?: { lastSakBeforeJoin: number | null; joinerUp: number | null };
}

const lines = (text: string) => text.split('\n');
const count = (ls: string[], re: RegExp) => ls.filter((l) => re.test(l)).length;
/** A wpa_supplicant -t log line's time (guest ms), or NaN. */
const wpaTime = (l: string) => Number.parseFloat(l) * 1000;
/** Our agent's JSON log line's time (guest ms), or NaN. */
const oursTime = (l: string) => (l.startsWith('{') ? Date.parse((JSON.parse(l) as { ts: string }).ts) : Number.NaN);

/** `macName` maps a MAC address to a member name. */
function wpaStats(ls: string[], macName: (mac: string) => string): WpaStats {
  const sakUse = count(ls, /KaY: Selected a new random MI/);
  const same = count(ls, /Peer using my MI - selected a new random MI/);
  const by: Record<string, number> = {};
  const listedBy: Record<string, number> = {};
  let from = '?';
  let listedMe = false;
  for (const l of ls) {
    const sa = / KaY: Ethernet header: .* SA=([0-9a-f:]{17}) /.exec(l)?.[1];
    if (sa) {
      from = macName(sa);
      listedMe = false;
    } else if (/KaY: My MI - received MN/.test(l)) listedMe = true;
    else if (/KaY: Selected a new random MI|Peer using my MI - selected a new random MI/.test(l)) {
      by[from] = (by[from] ?? 0) + 1;
      if (listedMe) listedBy[from] = (listedBy[from] ?? 0) + 1;
    }
  }
  const election = ls.filter((l) => /KaY: (I am elected as key server|Peer .* was elected as the key server)/.test(l)).at(-1);
  return {
    miResets: sakUse + same,
    miResetsSakUse: sakUse,
    miResetsPeerUsingMine: same,
    miResetsBy: by,
    miResetsListedBy: listedBy,
    sakUseFromNonLivePeer: count(ls, /is not my live peer - ignore MACsec SAK Use/),
    saksGenerated: count(ls, /KaY: generated new SAK/),
    saksInstalled: count(ls, /AES Key Unwrap of SAK/),
    distributionsRateLimited: count(ls, /Life time has not elapsed since prior SAK distributed/),
    peersMadeLive: count(ls, /KaY: Move potential peer to live peer/),
    livePeersRemoved: count(ls, /KaY: Live peer removed/),
    lastElection: election?.replace(/^[\d.]+: /, '') ?? '',
  };
}

/** When a member first spoke MKA, from its log: our agent's "port started", wpa_supplicant's first MI. */
function upAt(kind: Kind, ls: string[]): number | null {
  const l = ls.find((x) => (kind === 'ours' ? x.includes('"port started"') : x.includes('KaY: Selected random MI')));
  return l === undefined ? null : Math.round(kind === 'ours' ? oursTime(l) : wpaTime(l));
}

/** Times a key server made a SAK: wpa "generated new SAK"; ours installs each key it generates for receive first. */
function sakTimes(kind: Kind, ls: string[]): number[] {
  if (kind === 'wpa') return ls.filter((l) => l.includes('KaY: generated new SAK')).map(wpaTime);
  return ls.filter((l) => l.includes('"mka sakInstalled"') && l.includes('"role":"rx"')).map(oursTime);
}

function readJson<T>(s: ScenarioResult, file: string, fallback: T): T {
  const p = join(s.outDir, file);
  if (!existsSync(p)) return fallback;
  const text = readFileSync(p, 'utf8').trim();
  try {
    return text ? (JSON.parse(text) as T) : fallback;
  } catch {
    return fallback;
  }
}

/** pings-PHASE/SRC-DST.txt: ping's output, then "rc=N". */
function readPings(s: ScenarioResult, phase: PhaseName, members: MemberResult[]): PhaseResult['pings'] {
  const out: PhaseResult['pings'] = [];
  for (const src of members)
    for (const dst of members) {
      if (src === dst) continue;
      const text = readOut(s, `pings-${phase}/${src.name}-${dst.name}.txt`);
      out.push({
        from: src.name,
        to: dst.ip,
        toMember: dst.name,
        ok: /^rc=0$/m.test(text),
        transmitted: Number(/^(\d+) packets transmitted/m.exec(text)?.[1] ?? 0),
        received: Number(/ (\d+) (?:packets )?received/.exec(text)?.[1] ?? 0),
        output: text,
      });
    }
  return out;
}

/** `ip macsec show`: the RXSC line for `sci` says state on and one of its SAs says state on. */
function textRxOn(text: string, sci: string): boolean {
  const ls = lines(text);
  const i = ls.findIndex((l) => l.trim().startsWith(`RXSC: ${sci},`));
  if (i < 0 || !/state on/.test(ls[i]!)) return false;
  for (let j = i + 1; j < ls.length && /^\s+\d+: PN /.test(ls[j]!); j++) if (/state on/.test(ls[j]!)) return true;
  return false;
}

function readPhase(cs: Case, s: ScenarioResult, run: RunJson, phase: PhaseName): PhaseResult {
  const p = run.phases[phase]!;
  const joinAt = run.timing.join;
  const members: MemberResult[] = run.members
    .filter((x) => p.members.includes(x.name))
    .map((x) => {
      const all = lines(readOut(s, `${x.name}.log`));
      // the first phase ends when the joiner is launched
      const ls = phase === 'first' && joinAt !== null ? all.filter((l) => !((x.kind === 'wpa' ? wpaTime(l) : oursTime(l)) >= joinAt)) : all;
      const base = { ...x, up: upAt(x.kind, ls), complete: p.complete[x.name] ?? null };
      if (x.kind === 'wpa') return { ...base, wpa: wpaStats(ls, (mac) => run.members.find((y) => y.mac === mac)?.name ?? mac) };
      return { ...base, status: readJson<{ ports?: PskPortStatus[] } | null>(s, `${x.name}.${phase}.status.json`, null)?.ports?.[0] ?? null };
    });
  const state = Object.fromEntries(
    members.map((x) => [
      x.name,
      { json: readJson<MacsecShow[]>(s, `${x.name}.${phase}.macsec.json`, []), text: readOut(s, `${x.name}.${phase}.macsec.txt`), link: '' },
    ]),
  );
  const ks = expectedKeyServer(cs.group.members.filter((x) => p.members.includes(x.name)));
  const { members: _names, complete: _complete, ...timing } = p;
  const r: PhaseResult = {
    ...timing,
    phase,
    start: run.start,
    timeoutS: run.timeoutS,
    pingCount: run.pingCount,
    t0: run.timing.start,
    lastLaunch: Math.max(...members.map((x) => x.launch ?? 0)),
    keyServer: ks.name,
    members,
    pings: readPings(s, phase, members),
    state,
    problems: [],
  };
  if (phase === 'all' && joinAt !== null) {
    const joiner = members.find((x) => x.launch === joinAt) ?? members.at(-1)!;
    const ksKind = members.find((x) => x.name === ks.name)!.kind;
    const before = sakTimes(ksKind, lines(readOut(s, `${ks.name}.log`))).filter((t) => t < joinAt);
    r.join = { lastSakBeforeJoin: before.length ? Math.round(before.at(-1)!) : null, joinerUp: joiner.up };
  }
  r.problems = problems(r);
  return r;
}

function readRun(cs: Case, s: ScenarioResult): Partial<Record<PhaseName, PhaseResult>> {
  const run = readOutJson<RunJson>(s, 'run.json');
  const out: Partial<Record<PhaseName, PhaseResult>> = {};
  for (const phase of ['first', 'all'] as const) if (run.phases[phase]) out[phase] = readPhase(cs, s, run, phase);
  writeFileSync(join(s.outDir, 'result.json'), `${JSON.stringify({ ...run, results: out }, null, 2)}\n`);
  return out;
}

/** Time to every RX SA (ms) after the phase's last launch. Null if not complete in time. */
const secureMs = (r: PhaseResult): number | null => (r.rxSas === null ? null : r.rxSas - r.lastLaunch);

const fmtMissing = (miss: Record<string, string[]> | null | undefined): string => {
  if (!miss) return 'n/a';
  const parts = Object.entries(miss)
    .filter(([, v]) => v.length > 0)
    .map(([k, v]) => `${k} lacks ${v.join(',')}`);
  return parts.length ? parts.join('; ') : 'none';
};

/**
 * A gap that is wpa_supplicant 2.10's own (docs/mka.md): a wpa key server without an RX SA for
 * another wpa member, after its 6 s rate limit blocked a distribution. It installs RX SAs only
 * when it makes a SAK, so a wpa member that became live to it afterwards stays without one until
 * the next membership change; none of our members can make it distribute. Every gap that
 * involves one of ours, and every other gap, fails the test.
 */
function wpaOwnGap(r: PhaseResult, at: string, sci: string): boolean {
  const x = r.members.find((y) => y.name === at);
  const y = r.members.find((z) => z.sci === sci || z.name === sci);
  return !!x && !!y && x.kind === 'wpa' && y.kind === 'wpa' && r.keyServer === x.name && (x.wpa?.distributionsRateLimited ?? 0) > 0;
}
const wpaOwnPing = (r: PhaseResult, p: PingResult & { toMember: string }) => wpaOwnGap(r, p.from, p.toMember) || wpaOwnGap(r, p.toMember, p.from);
const onlyWpaOwn = (r: PhaseResult, miss: Record<string, string[]>) => Object.entries(miss).every(([k, v]) => v.every((sci) => wpaOwnGap(r, k, sci)));
const badPings = (r: PhaseResult) => r.pings.filter((p) => !wpaOwnPing(r, p) && (!p.ok || p.received !== r.pingCount || p.transmitted !== r.pingCount));
const others = (r: PhaseResult, x: MemberResult) => r.members.filter((y) => y !== x).map((y) => y.sci);
const nameOf = (r: PhaseResult, sci: string) => r.members.find((y) => y.sci === sci)?.name ?? sci;

/** Everything the test asserts, as readable problems (for the console and the summary; the test asserts each with expect). */
function problems(r: PhaseResult): string[] {
  const out: string[] = [];
  if (r.rxSas === null && !onlyWpaOwn(r, r.missing.atDeadline))
    out.push(`RX SAs incomplete ${r.timeoutS} s after the last launch: ${fmtMissing(r.missing.atDeadline)}`);
  for (const x of r.members) {
    const st = r.state[x.name]!;
    const json = rxSciWithActiveSa(st);
    const off = others(r, x).filter((sci) => !wpaOwnGap(r, x.name, sci) && (!textRxOn(st.text, sci) || !json.includes(sci)));
    if (off.length) out.push(`${x.name} has no active RX SA for ${off.map((sci) => nameOf(r, sci)).join(',')}`);
  }
  const bad = badPings(r);
  if (bad.length) out.push(`pings lost: ${bad.map((p) => `${p.from}->${p.toMember} ${p.received}/${p.transmitted}`).join(', ')}`);
  const ks = r.members.find((x) => x.name === r.keyServer)!;
  for (const x of r.members.filter((y) => y.kind === 'ours')) {
    const st = x.status;
    if (!st) {
      out.push(`${x.name}: no status`);
      continue;
    }
    if (!st.kay.secured) out.push(`${x.name}: not secured`);
    if (st.kay.keyServer?.sci !== ks.sci) out.push(`${x.name}: key server ${st.kay.keyServer ? nameOf(r, st.kay.keyServer.sci) : 'none'}, want ${ks.name}`);
    if (st.kay.livePeers.length !== r.members.length - 1) out.push(`${x.name}: ${st.kay.livePeers.length} live peers`);
  }
  return out;
}

/** `ip macsec show`: the transmit SA in use, as "AN n KN k" (KN = the last 8 hex digits of the key identifier). */
function txKey(text: string): string {
  const an = /TXSC: \S+ on SA (\d+)/.exec(text)?.[1];
  if (an === undefined) return 'none';
  const sa = new RegExp(`^\\s+${an}: PN \\d+, state (\\w+), key ([0-9a-f]{32})`, 'm').exec(text);
  return sa ? `AN ${an} KN ${kn(sa[2]!)}${sa[1] === 'on' ? '' : ' (off)'}` : `AN ${an} (no SA)`;
}

/** The KN of a key identifier as the kernel shows it: ours writes it big-endian, wpa_supplicant 2.10 in host order. */
function kn(ki: string): number {
  const hex = ki.slice(24);
  return Math.min(Number.parseInt(hex, 16), Number.parseInt(hex.match(/../g)!.reverse().join(''), 16));
}

/** `ip macsec show`: the KNs of the active RX SAs per transmitting member, "o1 3, w1 2+3". */
function rxKeys(r: PhaseResult, text: string): string {
  const out: string[] = [];
  let sc: string | null = null;
  let kns: number[] = [];
  const flush = () => {
    if (sc) out.push(`${nameOf(r, sc)} ${kns.length ? kns.join('+') : '-'}`);
  };
  for (const l of lines(text)) {
    const rx = /RXSC: ([0-9a-f]{16}),/.exec(l);
    const sa = /^\s+\d+: PN \d+, state on, key ([0-9a-f]{32})/.exec(l);
    if (rx) {
      flush();
      sc = rx[1]!;
      kns = [];
    } else if (sa && sc) kns.push(kn(sa[1]!));
    else if (!/^\s+\d+: PN /.test(l)) {
      flush();
      sc = null;
    }
  }
  flush();
  return out.join(', ') || 'none';
}

function describePhase(label: string, r: PhaseResult): string {
  const rel = (t: number | null) => (t === null ? 'n/a' : `+${secs(t - r.t0)}`);
  const out = [
    `${label}: ${r.problems.length ? 'FAIL' : 'PASS'}; every RX SA ${secs(secureMs(r))} after the last launch ` +
      `(from the first launch: last launch ${rel(r.lastLaunch)}, every RX SA ${rel(r.rxSas)}, warm-up pings ${rel(r.warm)}); key server ${r.keyServer}`,
    `  missing at the deadline: ${fmtMissing(r.missing.atDeadline)}; after the pings: ${fmtMissing(r.missing.final)}`,
  ];
  if (r.join)
    out.push(
      `  join: key server's last SAK before the join ${rel(r.join.lastSakBeforeJoin)}, joiner up ${rel(r.join.joinerUp)}` +
        (r.join.lastSakBeforeJoin !== null && r.join.joinerUp !== null ? ` (${secs(r.join.joinerUp - r.join.lastSakBeforeJoin)} later)` : ''),
    );
  for (const x of r.members) {
    const head =
      `  ${x.name} (${x.kind}, ${x.mac}, prio ${x.priority}): launched ${rel(x.launch)}, up ${rel(x.up)}, complete ${rel(x.complete)}, ` +
      `TX ${txKey(r.state[x.name]!.text)}, RX ${rxKeys(r, r.state[x.name]!.text)}`;
    if (x.wpa) {
      const w = x.wpa;
      out.push(
        `${head}; MI resets ${w.miResets} (SAK Use decode ${w.miResetsSakUse}, peer using my MI ${w.miResetsPeerUsingMine}; ` +
          `on MKPDUs from ${
            Object.entries(w.miResetsBy)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ') || '-'
          }; SAK Use from a non-live peer ${w.sakUseFromNonLivePeer}), ` +
          `SAKs generated ${w.saksGenerated}, installed ${w.saksInstalled}, distributions rate-limited ${w.distributionsRateLimited}, ` +
          `peers made live ${w.peersMadeLive}, removed ${w.livePeersRemoved}; ${w.lastElection || 'no election line'}`,
      );
    } else if (x.status) {
      const st = x.status;
      const ks = st.kay.keyServer;
      out.push(
        `${head}; secured ${st.kay.secured}, key server ${ks ? (ks.self ? 'self' : nameOf(r, ks.sci)) : 'none'}, ` +
          `live peers ${st.kay.livePeers.length}, SAKs generated ${st.counters.saksGenerated} received ${st.counters.saksReceived}, ` +
          `MI changes ${st.counters.miChanges}, peers lost ${st.counters.peersLost}, key server changes ${st.counters.keyServerChanges}`,
      );
    } else out.push(`${head}; no status file`);
  }
  const bad = badPings(r);
  out.push(
    `  pings: ${r.pings.length - bad.length}/${r.pings.length} pairs clean` +
      (bad.length ? `; ${bad.map((x) => `${x.from}->${x.toMember} ${x.received}/${x.transmitted}`).join(', ')}` : ''),
  );
  for (const x of r.problems) out.push(`  problem: ${x}`);
  return out.join('\n');
}

/** The strict outcome of one phase: every RX SA, every ping, our agents secured with the expected key server and all peers live. */
function assertPhase(r: PhaseResult): void {
  const gaps = r.members.flatMap((x) =>
    others(r, x)
      .filter((sci) => wpaOwnGap(r, x.name, sci))
      .map((sci) => `${x.name} lacks ${nameOf(r, sci)}`),
  );
  if (gaps.length) console.log(`${r.phase}: wpa_supplicant's own gap accepted (its key server's rate limit, docs/mka.md): ${gaps.join('; ')}`);
  if (r.rxSas === null && !onlyWpaOwn(r, r.missing.atDeadline)) {
    expect.soft(r.rxSas, `every RX SA within ${r.timeoutS} s of the last launch; missing at the deadline: ${fmtMissing(r.missing.atDeadline)}`).not.toBeNull();
  }
  for (const x of r.members) {
    const st = r.state[x.name]!;
    const want = others(r, x)
      .filter((sci) => !wpaOwnGap(r, x.name, sci))
      .sort();
    const have = rxSciWithActiveSa(st);
    expect
      .soft(
        want.filter((sci) => !have.includes(sci)),
        `${x.name} (${x.kind}): RX SCs without an active SA (ip -j macsec show)\n${st.text}`,
      )
      .toEqual([]);
    for (const sci of want) expect.soft(textRxOn(st.text, sci), `${x.name}: ip macsec show: RXSC ${sci} state on, with an SA state on\n${st.text}`).toBe(true);
  }
  const ks = r.members.find((x) => x.name === r.keyServer)!;
  for (const x of r.members.filter((y) => y.kind === 'ours')) {
    expect.soft(x.status, `${x.name}: status file`).toBeTruthy();
    if (!x.status) continue;
    expect.soft(x.status.kay.secured, `${x.name}: secured`).toBe(true);
    expect.soft(x.status.kay.keyServer?.sci, `${x.name}: key server (want ${ks.name})`).toBe(ks.sci);
    expect.soft(x.status.kay.keyServer?.self, `${x.name}: key server is self`).toBe(x.name === ks.name);
    expect.soft(x.status.kay.livePeers.map((y) => y.sci).sort(), `${x.name}: live peers`).toEqual(others(r, x).sort());
  }
  // Be conservative in what we send: no MKPDU of ours that already listed a wpa member makes it
  // select a new MI (issue 11). Resets on MKPDUs sent before we heard it cannot be avoided.
  const ours = new Set(r.members.filter((y) => y.kind === 'ours').map((y) => y.name));
  for (const x of r.members.filter((y) => y.wpa)) {
    const byUs = Object.entries(x.wpa!.miResetsListedBy).filter(([k]) => ours.has(k));
    expect.soft(byUs, `${x.name}: MI resets on MKPDUs of ours that listed it`).toEqual([]);
  }
  expect(r.pings).toHaveLength(r.members.length * (r.members.length - 1));
  expectPingsClean(
    r.pings.filter((p) => !wpaOwnPing(r, p)),
    r.pingCount,
  );
}

/** dist/ must be built from the current sources: the lab runs the compiled agent. */
function staleDist(): string[] {
  const sources: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(join(REPO_ROOT, dir), { withFileTypes: true })) {
      const p = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) sources.push(p);
    }
  };
  for (const d of ['src/mka', 'src/agent/standalone', 'src/port', 'src/link', 'src/secy', 'src/netlink', 'src/common']) walk(d);
  const mtime = (p: string) => {
    try {
      return statSync(join(REPO_ROOT, p)).mtimeMs;
    } catch {
      return 0;
    }
  };
  return sources.filter((f) => mtime(`dist/${f.replace(/\.ts$/, '.js')}`) < mtime(f));
}

/** A LabResult from the files an earlier run left (MIXED_GROUPS_FROM). */
function earlierRun(dir: string): LabResult {
  const runDir = join(REPO_ROOT, dir.replace(new RegExp(`^${REPO_ROOT}/`), ''));
  const h = (name: string, ext: string) => {
    const p = join(runDir, '_harness', `${name}.${ext}`);
    return existsSync(p) ? readFileSync(p, 'utf8') : null;
  };
  const scenarios: ScenarioResult[] = CASES.map((x) => {
    const rc = h(x.name, 'rc');
    return {
      name: x.name,
      exitCode: rc === null ? null : Number(rc.trim()),
      timedOut: rc === null && h(x.name, 'ms') !== null,
      ran: h(x.name, 'ms') !== null,
      durationMs: Number(h(x.name, 'ms') ?? 0),
      stdout: h(x.name, 'stdout') ?? '',
      stderr: h(x.name, 'stderr') ?? '',
      outDir: join(runDir, x.name),
    };
  });
  const scenario = (name: string) => {
    const s = scenarios.find((y) => y.name === name);
    if (!s) throw new Error(`no scenario ${name}`);
    return s;
  };
  return { runId: runDir.replace(/.*\/run-/, ''), runDir, bootMs: null, totalMs: 0, console: '', scenarios, scenario };
}

interface SummaryRow {
  name: string;
  what: string;
  pass: boolean;
  scenarioS: number;
  secureS: number | null;
  problems: string[];
  wpa: Record<string, WpaStats | undefined>;
  ours: Record<string, unknown>;
  join?: PhaseResult['join'];
}

let lab: LabResult | undefined;
const results = new Map<string, Partial<Record<PhaseName, PhaseResult>>>();
const summary: SummaryRow[] = [];

function phaseOf(cs: Case, phase: PhaseName): PhaseResult {
  expect(lab, 'the lab did not run').toBeDefined();
  if (!results.has(cs.name)) {
    const s = scenarioOk(
      lab!,
      cs.name,
      cs.group.members.map((x) => `${x.name}.log`),
    );
    results.set(cs.name, readRun(cs, s));
  }
  const r = results.get(cs.name)![phase];
  expect(r, `${cs.name}: no phase ${phase} in run.json`).toBeDefined();
  return r!;
}

function record(name: string, what: string, r: PhaseResult): void {
  console.log(describePhase(`${name} (${what})`, r));
  const ms = secureMs(r);
  summary.push({
    name,
    what,
    pass: r.problems.length === 0,
    scenarioS: (lab!.scenario(name.replace(/:.*/, '')).durationMs ?? 0) / 1000,
    secureS: ms === null ? null : ms / 1000,
    problems: r.problems,
    wpa: Object.fromEntries(r.members.filter((x) => x.wpa).map((x) => [x.name, x.wpa])),
    ours: Object.fromEntries(
      r.members
        .filter((x) => x.kind === 'ours')
        .map((x) => [
          x.name,
          x.status && {
            secured: x.status.kay.secured,
            keyServer: x.status.kay.keyServer && nameOf(r, x.status.kay.keyServer.sci),
            livePeers: x.status.kay.livePeers.length,
            saksGenerated: x.status.counters.saksGenerated,
            saksReceived: x.status.counters.saksReceived,
            miChanges: x.status.counters.miChanges,
            peersLost: x.status.counters.peersLost,
          },
        ]),
    ),
    ...(r.join ? { join: r.join } : {}),
  });
}

describe('mixed MKA groups: our PSK agent and wpa_supplicant 2.10 on a bridge (UML lab)', () => {
  it('boots one UML and runs every group and start pattern', async () => {
    if (FROM) {
      lab = earlierRun(FROM);
      return;
    }
    const stale = staleDist();
    if (stale.length > 0) throw new Error(`dist/ is older than ${stale.join(', ')}: run \`npm run build\` first (the lab runs the compiled agent)`);
    lab = await runLab({
      scenarios: CASES.map((x) =>
        agentScenario(x.name, 'group_run\n', (x.start === 'late' ? 180 : 120) * 1000, {
          GROUP_MEMBERS: x.group.members.map((y) => `${y.name}/${y.kind}/${y.mac}/${y.prio}`).join(' '),
          GROUP_START: x.start,
          GROUP_TIMEOUT: String(SECURE_TIMEOUT_S),
          GROUP_PINGS: String(PINGS),
        }),
      ),
      memMb: 768,
      // Hard cap for the whole boot; a hung lab fails instead of stalling the suite.
      timeoutMs: 900_000,
    });
    console.log(
      `UML boot ${lab.bootMs} ms, total ${(lab.totalMs / 1000).toFixed(1)} s; ` +
        lab.scenarios.map((s) => `${s.name} ${(s.durationMs / 1000).toFixed(1)} s`).join(', '),
    );
  }, 920_000);

  for (const cs of CASES) {
    const ks = expectedKeyServer(cs.group.members);
    if (cs.start === 'late') {
      const f3 = FIRST3[cs.group.id]!;
      const joiner = cs.group.members.at(-1)!;
      const firstKs = expectedKeyServer(cs.group.members.slice(0, -1));
      it(`${cs.name}, first 3 = ${f3.id} (${f3.what}), simultaneous start (run ${cs.run}): every RX SA, all pings, key server ${firstKs.name}`, () => {
        const r = phaseOf(cs, 'first');
        record(`${cs.name}:first3`, `${f3.id}: ${f3.what}, simultaneous`, r);
        assertPhase(r);
      });
      it(`${cs.name}: ${cs.group.what}, ${joiner.name} (${joiner.kind}) joins the secured 3 (run ${cs.run}): every RX SA, all pings, key server ${ks.name}`, () => {
        const r = phaseOf(cs, 'all');
        record(cs.name, `${cs.group.what}, late joiner ${joiner.name} (${joiner.kind})`, r);
        assertPhase(r);
      });
    } else {
      it(`${cs.name}: ${cs.group.what}, ${cs.start} start (run ${cs.run}): every RX SA, all pings, key server ${ks.name}`, () => {
        const r = phaseOf(cs, 'all');
        record(cs.name, `${cs.group.what}, ${cs.start}`, r);
        assertPhase(r);
      });
    }
  }

  afterAll(() => {
    if (!lab || summary.length === 0) return;
    const rows = summary.map((x) => {
      const wpa = Object.entries(x.wpa)
        .map(([k, w]) => `${k}: MI resets ${w?.miResets}, SAKs gen ${w?.saksGenerated} inst ${w?.saksInstalled} rate-limited ${w?.distributionsRateLimited}`)
        .join('; ');
      const t = x.secureS === null ? 'n/a   ' : `${x.secureS.toFixed(1)} s`;
      return `${x.name.padEnd(24)} ${x.pass ? 'PASS' : 'FAIL'}  RX SAs ${t}  ${wpa}${x.problems.length ? `\n    ${x.problems.join('\n    ')}` : ''}`;
    });
    console.log(
      `mixed groups: ${summary.filter((x) => x.pass).length}/${summary.length} checks pass; lab ${(lab.totalMs / 1000).toFixed(0)} s (${lab.runDir})\n${rows.join('\n')}`,
    );
    writeFileSync(join(lab.runDir, 'mixed-groups-summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  });
});
