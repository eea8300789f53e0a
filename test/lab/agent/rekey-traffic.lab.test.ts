/**
 * Must-show 4 of issue 3, in the UML kernel lab (one boot): rekey under traffic.
 * A secured pair (ours key server with rekeyPeriodSeconds 2) carries two paced UDP streams,
 * one each way through macsec0 (>= 1,000 packets/s each, sequence-numbered, counted by the
 * receiver), for 12 s while the SAK rotates by the period and once by SIGUSR2 (forced rekey).
 * Asserts: zero lost packets in both directions, the status file's rekeys counter >= 3
 * (period and forced), and the kernel's per-SA counters (sampled every 0.25 s) show the
 * traffic moving onto each new SA (new key id / AN) in both directions, with no frame
 * dropped by the kernel (InPktsNotUsingSA/UnusedSA/Late/Invalid/NotValid all 0).
 * Run ours<->ours and ours<->wpa_supplicant 2.10.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { UdpStream } from '../scenario-checks.js';
import { type LabResult, readOutJson, runLab } from '../uml.js';
import { agentScenario, type MacsecShow, normSci, type PskPortStatus, scenarioOk, secs } from './lab-agent.js';

const RATE = 1000;
const SECONDS = 14;

const REKEY = String.raw`
# Room in the UDP receive buffers: inside UML a receiver can be descheduled for 100+ ms,
# and a socket-buffer overflow would look like loss (counted apart as RcvbufErrors).
sysctl -qw net.core.rmem_max=33554432
pair_up || lab_die "pair did not secure: T_RX=$T_RX T_PING=$T_PING"
udp_recv_start b recv-b "$PAIR_IP_B" 5000
udp_recv_start a recv-a "$PAIR_IP_A" 5001
UDP0_A="$(udp_errors a)"; UDP0_B="$(udp_errors b)"
STATUS0="$(agent_status a)"
lab_bg samp-a sa_sample_loop a "$OUT/samples-a.jsonl"
lab_bg samp-b sa_sample_loop b "$OUT/samples-b.jsonl"
T0="$(now_ms)"
# Senders above the agents and the SA samplers (below the receivers): a starved sender falls
# behind its rate, which says nothing about MACsec.
udp_send_start a send-a "$PAIR_IP_B" 5000 "$RATE" "$STREAM_SECONDS" -5
udp_send_start b send-b "$PAIR_IP_A" 5001 "$RATE" "$STREAM_SECONDS" -5
sleep "$((STREAM_SECONDS / 2))"
T_FORCE="$(now_ms)"
kill -USR2 "$(lab_pid a)"
lab_wait_exit send-a $((STREAM_SECONDS + 20)) || lab_log "sender a still running"
lab_wait_exit send-b 20 || lab_log "sender b still running"
T1="$(now_ms)"
lab_wait_exit recv-b 20; lab_wait_exit recv-a 20
sleep 1
lab_stop samp-a; lab_stop samp-b
lab_json result.json --argjson status0 "$STATUS0" --argjson status1 "$(agent_status a)" \
  --argjson statusB "$(if [[ $B_KIND == ours ]]; then agent_status b; else echo null; fi)" \
  --argjson t0 "$T0" --argjson tForce "$T_FORCE" --argjson t1 "$T1" \
  --argjson sendA "$(cat "$OUT/send-a.json")" --argjson recvB "$(cat "$OUT/recv-b.json")" \
  --argjson sendB "$(cat "$OUT/send-b.json")" --argjson recvA "$(cat "$OUT/recv-a.json")" \
  --argjson state "$(macsec_state a b)" \
  --arg forcedLog "$(grep -c 'forced rekey requested' "$OUT/a.log")" \
  --argjson udpA "[$UDP0_A, $(udp_errors a)]" --argjson udpB "[$UDP0_B, $(udp_errors b)]" \
  '{status0: $status0, status1: $status1, statusB: $statusB, t0: $t0, tForce: $tForce, t1: $t1,
    aToB: {sent: $sendA, recv: $recvB}, bToA: {sent: $sendB, recv: $recvA}, state: $state, forcedLog: ($forcedLog | tonumber),
    udpErrors: {a: $udpA, b: $udpB}}'
lab_stop a; lab_stop b
`;

interface RekeyResult {
  status0: PskPortStatus;
  status1: PskPortStatus;
  statusB: PskPortStatus | null;
  t0: number;
  tForce: number;
  t1: number;
  aToB: UdpStream;
  bToA: UdpStream;
  forcedLog: number;
  udpErrors: { a: UdpErrors[]; b: UdpErrors[] };
}
interface UdpErrors {
  InErrors: number;
  RcvbufErrors: number;
}
interface Sample {
  t: number;
  show: (MacsecShow & Record<string, number>)[];
}

let lab: LabResult;

function samples(dir: string, file: string): Sample[] {
  return readFileSync(join(dir, file), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Sample];
      } catch {
        return []; // a line cut by lab_stop
      }
    });
}

/** Per sampled SA (key id): max TX / RX packets seen, AN, first time seen carrying traffic. */
function saTraffic(ss: Sample[]) {
  const tx = new Map<string, { an: number; pkts: number; first: number }>();
  const rx = new Map<string, { an: number; pkts: number; first: number }>();
  const encodingSa: number[] = [];
  const kernelDrops = { notUsingSa: 0, unusedSa: 0, late: 0, invalid: 0, notValid: 0 };
  for (const s of ss) {
    const l = s.show[0];
    if (!l) continue;
    if (encodingSa.at(-1) !== l.encoding_sa) encodingSa.push(l.encoding_sa as number);
    for (const sa of l.sa_list ?? []) {
      const k = (sa as { key?: string }).key ?? `an${sa.an}`;
      const n = (sa.OutPktsEncrypted ?? 0) + (sa.OutPktsProtected ?? 0);
      const e = tx.get(k) ?? { an: sa.an, pkts: 0, first: Infinity };
      if (n > 0) e.first = Math.min(e.first, s.t);
      e.pkts = Math.max(e.pkts, n);
      tx.set(k, e);
    }
    for (const sc of l.rx_sc ?? []) {
      const scs = sc as unknown as Record<string, number>;
      kernelDrops.notUsingSa = Math.max(kernelDrops.notUsingSa, scs.InPktsNotUsingSA ?? 0);
      kernelDrops.unusedSa = Math.max(kernelDrops.unusedSa, scs.InPktsUnusedSA ?? 0);
      kernelDrops.late = Math.max(kernelDrops.late, scs.InPktsLate ?? 0);
      kernelDrops.invalid = Math.max(kernelDrops.invalid, scs.InPktsInvalid ?? 0);
      kernelDrops.notValid = Math.max(kernelDrops.notValid, scs.InPktsNotValid ?? 0);
      for (const sa of sc.sa_list ?? []) {
        const k = `${normSci(sc.sci)}/${(sa as { key?: string }).key ?? sa.an}`;
        const n = sa.InPktsOK ?? 0;
        const e = rx.get(k) ?? { an: sa.an, pkts: 0, first: Infinity };
        if (n > 0) e.first = Math.min(e.first, s.t);
        e.pkts = Math.max(e.pkts, n);
        rx.set(k, e);
      }
    }
  }
  return { tx, rx, encodingSa, kernelDrops };
}

function check(name: string) {
  const s = scenarioOk(lab, name, ['a.log', 'b.log']);
  const r = readOutJson<RekeyResult>(s, 'result.json');
  const a = saTraffic(samples(s.outDir, 'samples-a.jsonl'));
  const b = saTraffic(samples(s.outDir, 'samples-b.jsonl'));
  const rekeys = r.status1.counters.rekeys - r.status0.counters.rekeys;
  const fmt = (m: Map<string, { an: number; pkts: number }>) => [...m.entries()].map(([k, v]) => `${k.slice(-12)}@AN${v.an}:${v.pkts}`).join(' ');
  console.log(
    `${name}: ${secs(r.t1 - r.t0)} of traffic; a->b sent ${r.aToB.sent.sent} received ${r.aToB.recv.unique} (missing ${r.aToB.recv.missing}, gaps ${JSON.stringify(r.aToB.recv.gaps)}); ` +
      `b->a sent ${r.bToA.sent.sent} received ${r.bToA.recv.unique} (missing ${r.bToA.recv.missing}, gaps ${JSON.stringify(r.bToA.recv.gaps)})\n` +
      `rekeys during traffic ${rekeys} (events ${JSON.stringify(r.status1.events)}), a encoding SA sequence ${a.encodingSa.join('>')}, b ${b.encodingSa.join('>')}\n` +
      `a TX SAs ${fmt(a.tx)}\nb RX SAs ${fmt(b.rx)}\nb TX SAs ${fmt(b.tx)}\na RX SAs ${fmt(a.rx)}\nkernel drops a ${JSON.stringify(a.kernelDrops)} b ${JSON.stringify(b.kernelDrops)}; UDP errors a ${JSON.stringify(r.udpErrors.a)} b ${JSON.stringify(r.udpErrors.b)}`,
  );
  // traffic really ran at >= 1,000 packets/s each way
  for (const st of [r.aToB, r.bToA]) {
    expect(st.sent.sendErrors).toBe(0);
    expect(st.sent.sent).toBe(RATE * SECONDS);
    expect(st.sent.sent / st.sent.seconds).toBeGreaterThanOrEqual(RATE * 0.97);
  }
  // the receivers' sockets never overflowed (so a gap would be on the wire, not in the guest)
  for (const [x, y] of [r.udpErrors.a, r.udpErrors.b]) expect(y.RcvbufErrors - x.RcvbufErrors).toBe(0);
  // zero loss, counted by the receivers
  expect(r.aToB.recv.unique, `a->b gaps ${JSON.stringify(r.aToB.recv.gaps)}`).toBe(r.aToB.sent.sent);
  expect(r.bToA.recv.unique, `b->a gaps ${JSON.stringify(r.bToA.recv.gaps)}`).toBe(r.bToA.sent.sent);
  expect(r.aToB.recv.missing).toBe(0);
  expect(r.bToA.recv.missing).toBe(0);
  // at least three SAK rotations during the traffic, one of them forced
  expect(r.forcedLog).toBe(1);
  expect(rekeys).toBeGreaterThanOrEqual(3);
  expect(r.status1.counters.rekeys).toBeGreaterThanOrEqual(3);
  expect(r.status1.kay.secured).toBe(true);
  expect(r.status1.kay.keyServer?.self).toBe(true);
  expect(r.status1.counters.peersLost).toBe(0);
  if (r.statusB) {
    expect(r.statusB.kay.secured).toBe(true);
    expect(r.statusB.counters.saksReceived - 1).toBeGreaterThanOrEqual(rekeys);
  }
  // the kernel: the encoding SA moved at least three times on both sides, and at least four
  // distinct SAs carried traffic in each direction (TX at the sender, RX at the receiver)
  expect(a.encodingSa.length - 1).toBeGreaterThanOrEqual(3);
  expect(b.encodingSa.length - 1).toBeGreaterThanOrEqual(3);
  for (const m of [a.tx, b.rx, b.tx, a.rx]) expect([...m.values()].filter((v) => v.pkts > 0).length).toBeGreaterThanOrEqual(4);
  for (const d of [a.kernelDrops, b.kernelDrops]) expect(d).toEqual({ notUsingSa: 0, unusedSa: 0, late: 0, invalid: 0, notValid: 0 });
}

describe('rekey under traffic (UML lab)', () => {
  it('boots one UML and streams through rotating SAKs', async () => {
    const env = { RATE: String(RATE), STREAM_SECONDS: String(SECONDS), A_KIND: 'ours', A_OPTS: 'priority=16 rekeyPeriodSeconds=2' };
    lab = await runLab({
      scenarios: [
        agentScenario('rekey-ours-ours', REKEY, 90_000, { ...env, B_KIND: 'ours', B_OPTS: 'priority=32' }),
        agentScenario('rekey-ours-wpa', REKEY, 90_000, { ...env, B_KIND: 'wpa', B_PRIO: '32' }),
      ],
    });
    console.log(`UML boot ${lab.bootMs} ms, total ${lab.totalMs} ms; ` + lab.scenarios.map((s) => `${s.name} ${s.durationMs} ms`).join(', '));
  }, 300_000);

  it('ours <-> ours: zero loss both ways through >= 3 SAK rotations (period + SIGUSR2)', () => {
    check('rekey-ours-ours');
  });

  it('ours (key server) <-> wpa_supplicant 2.10: zero loss both ways through >= 3 SAK rotations', () => {
    check('rekey-ours-wpa');
  });
});
