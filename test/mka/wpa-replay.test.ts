/**
 * Replays real wpa_supplicant 2.10 MKPDUs (test/support/fixtures) into our KaY. Our KaY takes the
 * place of peer p2 (same SCI and MI, injected through the RNG), so the key server p1's
 * frames address it. A capture cannot answer our own MKPDUs, so the one thing we change in
 * p1's frames is the MN p1 lists for p2: it becomes the MN our KaY really sent, and the
 * frame is re-signed with the CAK. Everything else — the Distributed SAK wrapped by
 * wpa_supplicant, its AN/KN, SAK Use, peer lists — is replayed as captured.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeCapture } from '../../src/cli/mka-decode.js';
import { deriveIck } from '../../src/mka/crypto.js';
import { bytesEqual, fromHex, toHex } from '../../src/common/hex.js';
import { Kay } from '../../src/mka/kay.js';
import { decodeMkpdu, encodeMkpdu } from '../../src/mka/mkpdu.js';
import type { SecyAction } from '../../src/mka/secy.js';
import { readCapture } from '../../src/pcap/file.js';

interface Sidecar {
  cak: string;
  ckn: string;
  participants: { name: string; mac: string; sci: string; priority: number }[];
}

const fixture = (name: string) => new URL(`../support/fixtures/${name}`, import.meta.url);

function replay(name: string) {
  const side = JSON.parse(readFileSync(fixture(`${name}.json`), 'utf8')) as Sidecar;
  const cak = fromHex(side.cak);
  const ckn = fromHex(side.ckn);
  const ick = deriveIck(cak, ckn);
  const file = readFileSync(fixture(`${name}.pcap`));
  const frames = readCapture(file);
  const decoded = decodeCapture(file, { cak, ckn }, true);
  const me = side.participants.find((p) => p.name === 'p2')!;
  const myMac = fromHex(me.mac);
  // p2's MI, as p2 itself sent it in the capture.
  const p2First = decoded.reports.find((r) => r.src === me.mac)!;
  const myMi = fromHex(p2First.mi);

  let firstMi = true;
  const kay = new Kay({
    sci: { mac: myMac, port: 1 },
    primary: { cak, ckn },
    priority: me.priority,
    random: (n) => (n === 12 && firstMi ? ((firstMi = false), Uint8Array.from(myMi)) : Uint8Array.from({ length: n }, () => 0x5a)),
  });

  const actions: SecyAction[] = [];
  let lastMn = 0;
  const absorb = (out: { frames: Uint8Array[]; actions: SecyAction[] }) => {
    actions.push(...out.actions);
    for (const f of out.frames) {
      const d = decodeMkpdu(f);
      if (d.ok) lastMn = d.value.basic.actor.mn;
    }
  };
  const t0 = frames[0]!.time * 1000;
  absorb(kay.start(0));
  let accepted = 0;
  for (const f of frames) {
    const now = f.time * 1000 - t0;
    absorb(kay.tick(now));
    const d = decodeMkpdu(f.data);
    if (!d.ok || bytesEqual(d.value.src, myMac)) continue; // p2's own frames are ours now
    const { signed: _s, icv: _i, ...pdu } = d.value;
    for (const s of pdu.sets) {
      if (s.type === 'livePeers' || s.type === 'potentialPeers') {
        for (const p of s.peers) if (bytesEqual(p.mi, myMi)) p.mn = lastMn;
      }
    }
    const before = kay.counters().mkpdusAccepted;
    absorb(kay.receive(encodeMkpdu(pdu, ick), now));
    if (kay.counters().mkpdusAccepted > before) accepted++;
  }
  const sak = decoded.reports.find((r) => r.distributedSak?.sak)!.distributedSak!.sak!;
  const keyServerMi = decoded.reports.find((r) => r.distributedSak?.sak)!.mi;
  return { side, kay, actions, accepted, sak, keyServerMi, others: side.participants.filter((p) => p.name !== 'p2') };
}

describe.each(['wpa-2party', 'wpa-3party', 'wpa-2party-256'])('replaying %s into our KaY', (name) => {
  const r = replay(name);

  it('accepts the peers MKPDUs and lists every other participant as live', () => {
    expect(r.accepted).toBeGreaterThan(5);
    const st = r.kay.status();
    const live = st.participants.flatMap((p) => p.livePeers.map((l) => l.sci));
    for (const o of r.others) expect(live).toContain(o.sci);
    expect(r.kay.counters().icvFailures).toBe(0);
  });

  it('elects wpa_supplicant p1 as key server and accepts its SAK', () => {
    const principal = r.kay.status().participants.find((p) => p.principal)!;
    expect(principal.keyServer?.sci).toBe(r.side.participants.find((p) => p.name === 'p1')!.sci);
    expect(principal.keyServer?.self).toBe(false);
    // After transmit switches to it, the CP's RETIRE step files the key as the "old" key
    // (802.1X-2010 Figure 12-2), so it is in one of the two slots.
    const key = principal.latestKey ?? principal.oldKey;
    expect(key?.ki).toBe(`${r.keyServerMi}00000001`);
    expect(key?.tx && key.rx).toBe(true);
  });

  it('installs receive SAs with the SAK wpa_supplicant distributed, for every other participant, and transmits with it', () => {
    const rx = r.actions.filter((a): a is Extract<SecyAction, { kind: 'installRxSa' }> => a.kind === 'installRxSa');
    for (const o of r.others) {
      // The last one counts: in the 3-party capture p3 is seen before p1, so we briefly act as
      // key server for {p2, p3} until p1 (lower SCI) takes over with its own SAK.
      const sa = rx.filter((a) => a.sci === o.sci).at(-1);
      expect(sa, `RX SA for ${o.sci}`).toBeDefined();
      expect(toHex(sa!.sak)).toBe(r.sak);
    }
    const tx = r.actions.filter((a): a is Extract<SecyAction, { kind: 'installTxSa' }> => a.kind === 'installTxSa').at(-1);
    expect(tx && toHex(tx.sak)).toBe(r.sak);
  });
});
