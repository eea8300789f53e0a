/**
 * EapMkaPort on the host (no kernel): our authenticator (embedded EAP-TLS server) and our
 * supplicant over an in-memory LAN, each with a recording SecY. Authorization starts MKA with the
 * EAP-derived CAK, re-authentication restarts it with the new CAK, logoff and rejections leave no SA.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryHub } from '../../src/link/memory.js';
import { RecordingSecy } from '../../src/secy/recording.js';
import { silentLogger, createLogger, type Logger } from '../../src/common/log.js';
import { EapTlsPeer } from '../../src/eap/eaptls-peer.js';
import { EapTlsServer } from '../../src/eap/eaptls-server.js';
import { defaultKayFactory, type KayFactory } from '../../src/port/driver.js';
import { EapMkaPort } from '../../src/port/eap-mka-port.js';
import type { SweepableSecy } from '../../src/port/session-secy.js';
import type { SecyDump } from '../../src/netlink/macsec-genl.js';
import { makeTestPki, type CertKey, type TestPki } from '../support/pki.js';

/** RecordingSecy plus the dump() the sweep uses. */
class DumpSecy extends RecordingSecy implements SweepableSecy {
  async dump(): Promise<SecyDump> {
    const rxScs = [...this.rxScs].map((sci) => ({
      sci,
      sas: [...this.rxSas.keys()].filter((k) => k.startsWith(`${sci}/`)).map((k) => ({ an: Number(k.split('/')[1]) })),
    }));
    return { txSas: [...this.txSas.keys()].map((an) => ({ an })), rxScs } as unknown as SecyDump;
  }
  saCount(): number {
    return this.txSas.size + this.rxSas.size;
  }
}

const MAC_A = Uint8Array.of(2, 0, 0, 0, 0, 0xa);
const MAC_B = Uint8Array.of(2, 0, 0, 0, 0, 0xb);

function linkOn(hub: MemoryHub, mac: Uint8Array) {
  const l = hub.link('lan');
  return Object.assign(l, { mac }) as typeof l & { mac: Uint8Array; send(f: Uint8Array): void };
}

async function until(what: string, cond: () => boolean, ms = 15000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { log: createLogger({}, { level: 'debug', write: (l) => lines.push(l) }), lines };
}

describe('EapMkaPort (in memory)', () => {
  let pki: TestPki;
  beforeAll(() => {
    pki = makeTestPki();
  });
  const ports: EapMkaPort[] = [];
  afterAll(async () => {
    for (const p of ports) await p.stop();
  });

  function pair(
    opts: {
      client?: CertKey;
      reAuthPeriodMs?: number;
      maxVersion?: 'TLSv1.2' | 'TLSv1.3';
      check?: () => string | undefined;
      mkaRecoveryMs?: number;
      /** Drop the supplicant's MKPDUs while this says so. */
      muteSupplicantMka?: () => boolean;
      /** SCI port identifier of the supplicant port. */
      supplicantSciPort?: number;
      /** MACsec capability of the authenticator's SecY. */
      authenticatorCapability?: 1 | 2 | 3;
      kayFactory?: KayFactory;
    } = {},
  ) {
    const hub = new MemoryHub();
    const secyA = new DumpSecy(opts.authenticatorCapability ? { macsecCapability: opts.authenticatorCapability } : {});
    const secyB = new DumpSecy();
    const la = capture();
    const lb = capture();
    const client = opts.client ?? pki.client;
    const a = new EapMkaPort({
      name: 'auth',
      link: linkOn(hub, MAC_A),
      secy: secyA,
      role: 'authenticator',
      authenticator: {
        backend: new EapTlsServer({
          ca: pki.ca.cert,
          cert: pki.server.cert,
          key: pki.server.key,
          maxVersion: opts.maxVersion ?? 'TLSv1.3',
          identityPolicy: { subjectCn: ['*.vnf.example'], ...(opts.check ? { check: opts.check } : {}) },
        }),
        pae: { reAuthPeriodMs: opts.reAuthPeriodMs ?? 0, quietPeriodMs: 500, txPeriodMs: 1000 },
      },
      mka: { helloTimeMs: 500, priority: 16 },
      ...(opts.kayFactory ? { kayFactory: opts.kayFactory } : {}),
      log: la.log,
      ...(opts.mkaRecoveryMs !== undefined ? { mkaRecoveryMs: opts.mkaRecoveryMs } : {}),
    });
    const linkB = linkOn(hub, MAC_B);
    const mute = opts.muteSupplicantMka;
    if (mute) {
      const send = linkB.send.bind(linkB);
      // EAPOL packet type 5 (EAPOL-MKA) at octet 15 of an 0x888e frame
      linkB.send = (f: Uint8Array) => (f[15] === 5 && mute() ? undefined : send(f));
    }
    const b = new EapMkaPort({
      name: 'supp',
      link: linkB,
      secy: secyB,
      role: 'supplicant',
      supplicant: {
        method: () => new EapTlsPeer({ identity: 'client1.vnf.example', ca: pki.ca.cert, cert: client.cert, key: client.key, logger: () => {} }),
        pae: { identity: 'client1.vnf.example', startPeriodMs: 1000, heldPeriodMs: 60_000 },
      },
      mka: { helloTimeMs: 500, priority: 32 },
      ...(opts.supplicantSciPort !== undefined ? { sciPort: opts.supplicantSciPort } : {}),
      log: lb.log,
    });
    ports.push(a, b);
    return { a, b, secyA, secyB, la, lb };
  }

  it('authorization starts MKA with the EAP-derived CAK; both ends secure with the same CKN', async () => {
    const { a, b, secyA, secyB, la } = pair();
    await a.start();
    await b.start();
    await until('both secured', () => !!a.status().kay?.secured && !!b.status().kay?.secured);
    const sa = a.status();
    const sb = b.status();
    expect(sa.authorized).toBe(true);
    expect(sb.authorized).toBe(true);
    expect(sa.ckn).toMatch(/^[0-9a-f]{32}$/);
    expect(sb.ckn).toBe(sa.ckn);
    expect(sa.identity).toBe('client1.vnf.example');
    expect(sa.peer).toBe('02:00:00:00:00:0b');
    expect(sa.kay!.keyServer?.self).toBe(true);
    expect(secyA.txSas.size).toBeGreaterThan(0);
    expect(secyA.rxSas.size).toBeGreaterThan(0);
    expect(secyB.rxSas.size).toBeGreaterThan(0);
    expect(sa.demux.pae).toBeGreaterThan(0);
    expect(sa.demux.mka).toBeGreaterThan(0);
    const text = la.lines.join('\n');
    expect(text).toContain('port authorized: starting MKA');
    expect(text).not.toMatch(/"cak":"[0-9a-f]/);

    // Logoff: both sides stop MKA and no SA remains.
    b.logoff();
    await until('authenticator unauthorized', () => !a.status().authorized);
    await a.idle();
    await b.idle();
    expect(a.status().kay).toBeNull();
    expect(b.status().kay).toBeNull();
    expect(secyA.saCount()).toBe(0);
    expect(secyB.saCount()).toBe(0);
    expect(secyA.controlledPortEnabled).toBe(false);
    expect(a.status().lastReason).toMatch(/logoff/i);
  }, 30_000);

  it("each session's KaY uses the port's SCI port identifier", async () => {
    const { a, b } = pair({ supplicantSciPort: 2 });
    await a.start();
    await b.start();
    await until('both secured', () => !!a.status().kay?.secured && !!b.status().kay?.secured);
    expect(b.status().kay!.sci).toBe('02000000000b0002');
    expect(a.status().kay!.sci).toBe('02000000000a0001');
    expect(a.status().kay!.livePeers.map((p) => p.sci)).toEqual(['02000000000b0002']);
    await a.stop();
    await b.stop();
  }, 30_000);

  it("each session's KaY is told its SecY's MACsec capability", async () => {
    const seen: (number | undefined)[] = [];
    const kayFactory: KayFactory = (cfg) => {
      seen.push(cfg.macsecCapability);
      return defaultKayFactory(cfg);
    };
    const { a, b } = pair({ authenticatorCapability: 2, kayFactory });
    await a.start();
    await b.start();
    await until('both secured', () => !!a.status().kay?.secured && !!b.status().kay?.secured);
    expect(seen).toEqual([2]);
    await a.stop();
    await b.stop();
  }, 30_000);

  it('re-authentication: the new CAK takes over in the running MKA session without a gap; the old CA leaves', async () => {
    const { a, b, secyA, secyB } = pair({ reAuthPeriodMs: 7000, maxVersion: 'TLSv1.2' });
    await a.start();
    await b.start();
    await until('secured', () => !!a.status().kay?.secured && !!b.status().kay?.secured);
    const ckn1 = a.status().ckn;
    // From now on, sampled every 5 ms: each end always has an RX SA for the key the other sends with.
    const gaps: string[] = [];
    const probe = setInterval(() => {
      for (const [x, y, n] of [
        [secyA, secyB, 'a->b'],
        [secyB, secyA, 'b->a'],
      ] as const) {
        const an = x.encodingAn;
        const tx = an === null ? undefined : x.txSas.get(an);
        const rx = !!tx && tx.enabled && [...y.rxSas.entries()].some(([k, sa]) => sa.enabled && k.endsWith(`/${an}`) && sa.ki === tx.ki);
        if (!rx) gaps.push(`${n} at ${Date.now()}`);
      }
    }, 5);
    try {
      await until('re-authenticated', () => a.status().reauthentications >= 1 && b.status().cakChanges >= 1, 12_000);
      await until('new CA in use, old one gone', () => {
        const sa = a.status().kay;
        const sb = b.status().kay;
        return !!sa && !!sb && sa.participants.length === 1 && sb.participants.length === 1 && sa.principalCkn !== ckn1 && sa.principalCkn === sb.principalCkn;
      });
    } finally {
      clearInterval(probe);
    }
    expect(gaps).toEqual([]);
    const sa = a.status();
    expect(sa.ckn).not.toBe(ckn1);
    expect(b.status().ckn).toBe(sa.ckn);
    expect(sa.kayStarts).toBe(1);
    expect(sa.cakChanges).toBeGreaterThanOrEqual(1);
    expect(sa.mkaEvents.unsecured ?? 0).toBe(0);
    expect(b.status().mkaEvents.unsecured ?? 0).toBe(0);
    expect(sa.authorized).toBe(true);
    // Only SAs of the new CA's keys remain.
    const mi = sa.kay!.participants[0]!.mi;
    const ksMi = sa.kay!.keyServer!.mi;
    expect(secyA.txSas.size).toBeGreaterThan(0);
    for (const s of secyA.txSas.values()) expect(s.ki.slice(0, 24)).toBe(ksMi);
    expect([mi, b.status().kay!.participants[0]!.mi]).toContain(ksMi);
  }, 40_000);

  it('MKA not secured after authentication: the authenticator re-authenticates, and the new session secures', async () => {
    // The supplicant's first MKA session never reaches us, as when wpa_supplicant discards its
    // new participant after a re-authentication; without recovery the port would stay unsecured
    // (no periodic re-authentication here).
    let b: EapMkaPort | undefined;
    const p = pair({ mkaRecoveryMs: 2000, muteSupplicantMka: () => b!.status().reauthentications < 1 });
    b = p.b;
    const a = p.a;
    await a.start();
    await b.start();
    await until('authorized', () => a.status().authorized && a.status().kayStarts === 1);
    await new Promise((r) => setTimeout(r, 1500));
    expect(a.status().kay?.secured).toBe(false);
    expect(a.status().mkaRecoveries).toBe(0);
    await until('re-authenticated by the recovery', () => a.status().mkaRecoveries === 1 && a.status().reauthentications === 1, 10_000);
    await until('secured with the new CAK', () => !!a.status().kay?.secured && !!b!.status().kay?.secured && a.status().cakChanges === 1, 15_000);
    expect(a.status().kayStarts).toBe(1);
    expect(b.status().ckn).toBe(a.status().ckn);
    expect(p.la.lines.join('\n')).toContain('MKA has not secured the port since authentication: re-authenticating the supplicant');
    // secured: no further recovery
    await new Promise((r) => setTimeout(r, 2500));
    expect(a.status().mkaRecoveries).toBe(1);
  }, 40_000);

  it('a failed re-authentication stops MKA on both ends and removes every SA', async () => {
    let revoked = false;
    const { a, b, secyA, secyB, la } = pair({ reAuthPeriodMs: 2000, check: () => (revoked ? 'certificate revoked by the test' : undefined) });
    await a.start();
    await b.start();
    await until('secured', () => !!a.status().kay?.secured && !!b.status().kay?.secured);
    expect(secyA.saCount()).toBeGreaterThan(0);
    revoked = true;
    await until('re-authentication failed', () => !a.status().authorized && !b.status().authorized, 20_000);
    await a.idle();
    await b.idle();
    expect(a.status().lastReason).toMatch(/certificate revoked by the test/);
    expect(a.status().kay).toBeNull();
    expect(b.status().kay).toBeNull();
    expect(secyA.saCount() + secyB.saCount()).toBe(0);
    expect(secyA.rxScs.size + secyB.rxScs.size).toBe(0);
    expect(secyA.controlledPortEnabled || secyB.controlledPortEnabled).toBe(false);
    expect(la.lines.some((l) => /port unauthorized: stopping MKA and removing SAs/.test(l) && /revoked/.test(l))).toBe(true);
  }, 30_000);

  it('a rejected supplicant (expired certificate) leaves the port unauthorized with no SA and the reason', async () => {
    const { a, b, secyA, secyB, la } = pair({ client: pki.expired });
    await a.start();
    await b.start();
    await until('failure', () => a.status().failures >= 1);
    await a.idle();
    const sa = a.status();
    expect(sa.authorized).toBe(false);
    expect(sa.kay).toBeNull();
    expect(sa.kayStarts).toBe(0);
    expect(sa.lastReason).toMatch(/expired/);
    expect(b.status().authorized).toBe(false);
    expect(secyA.saCount() + secyB.saCount()).toBe(0);
    expect(la.lines.some((l) => /port unauthorized/.test(l) && /expired/.test(l))).toBe(true);
  }, 30_000);

  it('drops and counts EAPOL types that are neither PAE nor MKA', async () => {
    const hub = new MemoryHub();
    const secy = new DumpSecy();
    const p = new EapMkaPort({
      name: 'x',
      link: linkOn(hub, MAC_A),
      secy,
      role: 'authenticator',
      authenticator: { backend: new EapTlsServer({ ca: pki.ca.cert, cert: pki.server.cert, key: pki.server.key }), pae: {} },
      mka: {},
      log: silentLogger,
    });
    ports.push(p);
    await p.start();
    const other = hub.link('lan');
    const f = (type: number) => Uint8Array.of(1, 0x80, 0xc2, 0, 0, 3, ...MAC_B, 0x88, 0x8e, 3, type, 0, 0);
    other.send(f(3));
    other.send(f(7));
    other.send(f(5)); // MKA while unauthorized: no KaY
    other.send(Uint8Array.of(1, 2, 3));
    await new Promise((r) => setTimeout(r, 20));
    expect(p.status().demux).toMatchObject({ mka: 0, mkaNoKay: 1, dropped: { 'type-3': 1, 'type-7': 1, short: 1 } });
  });
});
