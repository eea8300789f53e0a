/**
 * Replays MKPDUs captured from wpa_supplicant 2.10 (test/support/fixtures/wpa-2party.*) against our KaY
 * standing in for one of the two parties, with that party's MI, MAC and priority.
 * Only the first seconds are replayed: later recorded MKPDUs acknowledge the recorded party's
 * MNs, which our KaY (sending on its own schedule) has not necessarily reached.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fromHex, toHex } from '../../src/common/hex.js';
import { Kay, type KayOutput } from '../../src/mka/kay.js';
import { decodeMkpdu, findSet } from '../../src/mka/mkpdu.js';
import { readCapture } from '../../src/pcap/file.js';
import { SimulatedSecy, seededRandom } from '../../src/mka/sim/index.js';

const fx = JSON.parse(readFileSync(new URL('../support/fixtures/wpa-2party.json', import.meta.url), 'utf8'));
const frames = readCapture(readFileSync(new URL('../support/fixtures/wpa-2party.pcap', import.meta.url)));
const t0 = frames[0]!.time;
const ms = (t: number) => Math.round((t - t0) * 1000);
const decoded = frames.map((f) => {
  const d = decodeMkpdu(f.data);
  if (!d.ok) throw new Error(String(d.error));
  return { at: ms(f.time), raw: f.data, pdu: d.value };
});
const byMac = (m: string) => decoded.filter((d) => toHex(d.pdu.src) === m.replace(/:/g, ''));

function impersonate(name: 'p1' | 'p2') {
  const me = fx.participants.find((p: { name: string }) => p.name === name);
  const mine = byMac(me.mac);
  const mi = mine[0]!.pdu.basic.actor.mi;
  const rest = seededRandom(3);
  let first = true;
  const kay = new Kay({
    sci: { mac: fromHex(me.mac), port: 1 },
    primary: { cak: fromHex(fx.cak), ckn: fromHex(fx.ckn) },
    priority: me.priority,
    random: (n) => {
      if (first && n === 12) {
        first = false;
        return Uint8Array.from(mi);
      }
      return rest(n);
    },
  });
  const secy = new SimulatedSecy();
  const sent: { at: number; out: KayOutput }[] = [];
  const apply = (at: number, out: KayOutput) => {
    for (const a of out.actions) secy.applySync(a);
    sent.push({ at, out });
  };
  return { kay, secy, sent, apply, mi: toHex(mi), startAt: mine[0]!.at };
}

/** Feeds the peer's recorded frames up to `until` ms, ticking our KaY in between. */
function replay(p: ReturnType<typeof impersonate>, peerMac: string, until: number) {
  p.apply(p.startAt, p.kay.start(p.startAt));
  for (const f of byMac(peerMac).filter((x) => x.at <= until)) {
    while (p.kay.nextDeadline() <= f.at) {
      const t = p.kay.nextDeadline();
      p.apply(t, p.kay.tick(t, p.secy.readPnSync()));
    }
    p.apply(f.at, p.kay.receive(f.raw, f.at));
  }
}

const P1 = fx.participants[0];
const P2 = fx.participants[1];

describe('interop with recorded wpa_supplicant 2.10 MKPDUs', () => {
  it('the capture is what we expect: p1 key server, one SAK distributed', () => {
    expect(fx.wpaSupplicantVersion).toBe('2.10');
    expect(decoded.length).toBe(19);
    expect(fx.distributedSaks[0].keyNumber).toBe(1);
  });

  it('as the non key server (p2): accepts, unwraps and installs the SAK wpa_supplicant distributes', () => {
    const p = impersonate('p2');
    replay(p, P1.mac, 3_400); // p1's first three MKPDUs: potential list, distributed SAK, SAK use tx
    const st = p.kay.status();
    expect(st.counters.mkpdusDropped).toBe(0);
    expect(st.keyServer).toMatchObject({ self: false, sci: P1.sci, priority: 16 });
    const ksMi = toHex(byMac(P1.mac)[0]!.pdu.basic.actor.mi);
    const ki = ksMi + '00000001';
    const sa = p.secy.rxScs.get(P1.sci)?.get(0);
    expect(sa?.ki).toBe(ki);
    expect(toHex(sa!.sak)).toBe(fx.distributedSaks[0].sak);
    expect(sa!.enabled).toBe(true);
    // wpa's key server reported transmitting with it: we transmit too
    expect(p.secy.transmitting()?.ki).toBe(ki);
    expect(p.secy.controlledPortEnabled).toBe(true);
    expect(st.secured).toBe(true);
    // our last MKPDU tells p1 we receive and transmit with KN 1, as wpa's p2 did
    const last = decodeMkpdu(p.sent.flatMap((s) => s.out.frames).at(-1)!);
    expect(last.ok).toBe(true);
    if (!last.ok) return;
    // with no earlier key to keep, the key retires to "old" at once (RETIRE, Figure 12-2) -- the
    // form wpa_supplicant's own p2 reports from its next MKPDU on, and accepts from peers
    const su = findSet(last.value, 'sakUse')!;
    expect(su.old).toMatchObject({ an: 0, tx: true, rx: true });
    expect(su.latest).toMatchObject({ tx: false, rx: false, ki: { kn: 0 } });
    expect(toHex(su.old.ki.mi) + su.old.ki.kn.toString(16).padStart(8, '0')).toBe(ki);
    expect(last.value.basic.keyServer).toBe(false);
    expect(findSet(last.value, 'livePeers')!.peers.map((x) => toHex(x.mi))).toEqual([ksMi]);
  });

  it('as the key server (p1): wpa_supplicant counts us live, reports receiving our SAK, and we switch to it', () => {
    const p = impersonate('p1');
    replay(p, P2.mac, 4_700); // p2: hello, live list, lrx, ltx, then RETIRE with our key as old
    const st = p.kay.status();
    expect(st.counters.mkpdusDropped).toBe(0);
    expect(st.keyServer).toMatchObject({ self: true, sci: P1.sci });
    expect(st.livePeers.map((x) => x.sci)).toEqual([P2.sci]);
    const ki = p.mi + '00000001';
    expect(p.secy.transmitting()?.ki).toBe(ki);
    expect(p.secy.canReceive(P2.sci, 0, ki)).toBe(true);
    expect(st.secured).toBe(true);
    // our Distributed SAK is one wpa_supplicant can unwrap with the KEK it derived
    const dist = p.sent
      .flatMap((s) => s.out.frames)
      .map((f) => decodeMkpdu(f))
      .find((d) => d.ok && findSet(d.value, 'distributedSak'));
    expect(dist?.ok).toBe(true);
    if (!dist?.ok) return;
    const ds = findSet(dist.value, 'distributedSak')!;
    expect(ds.kn).toBe(1);
    expect(ds.wrappedSak.length).toBe(24);
    expect(ds.cipherSuite).toBeNull();
    expect(ds.confidentialityOffset).toBe(1);
    // wpa_supplicant needs the MKPDU sent to the PAE group address and EAPOL version >= 2
    expect(toHex(dist.value.dst)).toBe('0180c2000003');
    expect(dist.value.eapolVersion).toBeGreaterThanOrEqual(2);
  });
});
