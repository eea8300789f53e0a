/**
 * startPort on the host: the standalone agent's ports (PortSpec from a configuration file) over
 * an in-memory LAN with recording SecYs instead of the kernel, and the one secured/unsecured
 * derivation every kind of port shares.
 */
import { describe, expect, it } from 'vitest';
import { StandaloneAgent, type PskPortStatus } from '../../src/agent/standalone/agent.js';
import { validateConfig } from '../../src/agent/standalone/config.js';
import { createLogger, silentLogger } from '../../src/common/log.js';
import { MemoryHub } from '../../src/link/memory.js';
import type { PortIo } from '../../src/port/io.js';
import { fromHex } from '../../src/common/hex.js';
import { defaultKayFactory, type KayFactory } from '../../src/port/driver.js';
import { SciPorts } from '../../src/port/sci-ports.js';
import type { PortSpec } from '../../src/port/spec.js';
import { SecuredState, startPort } from '../../src/port/start.js';
import { EapTlsPeer } from '../../src/eap/eaptls-peer.js';
import { EapTlsServer } from '../../src/eap/eaptls-server.js';
import { makeTestPki } from '../support/pki.js';
import { RecordingSecy } from '../../src/secy/recording.js';

const CAK = '135bd758b0ee5c11c55ff6ab19fdb199';
const CKN = '96437a93ccf10d9dfe347846cce52c7d';

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('SecuredState', () => {
  it('a secured period starts with the first secured and ends with unsecured or the end of the session', () => {
    const s = new SecuredState();
    expect(s.onKayEvent({ kind: 'unsecured', reason: 'x' })).toBeNull();
    expect(s.onKayEvent({ kind: 'secured', ki: 'k1' })).toEqual({ kind: 'secured', ki: 'k1' });
    expect(s.onKayEvent({ kind: 'secured', ki: 'k2' }), 'a new SAK is no transition').toBeNull();
    expect(s.onKayEvent({ kind: 'peerLive', sci: 's', mi: 'm' })).toEqual({ kind: 'peerLive', sci: 's', mi: 'm' });
    expect(s.onKayEvent({ kind: 'unsecured', reason: 'peer lost' })).toEqual({ kind: 'unsecured', reason: 'peer lost' });
    expect(s.secured).toBe(false);
    s.onKayEvent({ kind: 'secured', ki: 'k3' });
    expect(s.end('port stopped')).toEqual({ kind: 'unsecured', reason: 'port stopped' });
    expect(s.end('again')).toBeNull();
  });
});

describe('standalone agent ports through startPort (in memory)', () => {
  it('two PSK ports secure each other, report the status-file shape, rekey, and remove their SAs on stop', async () => {
    const hub = new MemoryHub();
    const secys = new Map<string, RecordingSecy>();
    const io: PortIo = {
      openSecy: (spec) => {
        const s = new RecordingSecy();
        secys.set(spec.interface, s);
        return { secy: s, ifname: spec.macsecName };
      },
      openLink: (spec) => hub.connect(spec.interface === 'va' ? Uint8Array.of(2, 0, 0, 0, 0, 0xa) : Uint8Array.of(2, 0, 0, 0, 0, 0xb)),
    };
    const port = (iface: string, priority: number) => ({ interface: iface, cak: CAK, ckn: CKN, priority, helloTimeMs: 200 });
    const a = new StandaloneAgent(validateConfig({ ports: [port('va', 16)] }), silentLogger, undefined, io);
    const b = new StandaloneAgent(validateConfig({ ports: [port('vb', 32)] }), silentLogger, undefined, io);
    await a.start();
    await b.start();
    const st = (x: StandaloneAgent) => x.status()[0] as PskPortStatus;
    await until('both secured', () => st(a).kay.secured && st(b).kay.secured);
    expect(st(a)).toMatchObject({ name: 'va', interface: 'va', macsec: 'msva' });
    expect(st(a).kay.keyServer?.self).toBe(true);
    expect(st(a).events.secured).toBeGreaterThanOrEqual(1);
    expect([...secys.get('va')!.txSas.values()].some((s) => s.enabled)).toBe(true);

    const kn = st(a).kay.txKey!.kn;
    a.forceRekey();
    await until('new SAK in use', () => (st(a).kay.txKey?.kn ?? 0) > kn);

    await a.stop();
    await b.stop();
    for (const s of secys.values()) {
      expect(s.closed).toBe(true);
      expect(s.txSas.size + s.rxSas.size).toBe(0);
    }
  });
});

describe('SCI port identifiers of ports that share a MAC', () => {
  it('two ports of one agent with one MAC get SCI ports 1 and 2 (KaY and SecY alike), and a key server is elected with a third participant', async () => {
    const hub = new MemoryHub();
    const shared = Uint8Array.of(2, 0, 0, 0, 0, 0xa);
    const secyPorts = new Map<string, number | undefined>();
    const io: PortIo = {
      openSecy: (spec) => {
        secyPorts.set(spec.interface, spec.sciPort);
        return { secy: new RecordingSecy(), ifname: spec.macsecName };
      },
      // va and vb (VLAN sub-interfaces of one NIC, say) have the same MAC; vc is another host.
      openLink: (spec) => hub.connect(spec.interface === 'vc' ? Uint8Array.of(2, 0, 0, 0, 0, 0xc) : shared),
    };
    const port = (iface: string) => ({ interface: iface, cak: CAK, ckn: CKN, priority: 16, helloTimeMs: 200 });
    const lines: string[] = [];
    const log = createLogger({}, { level: 'info', write: (l) => lines.push(l) });
    const a = new StandaloneAgent(validateConfig({ ports: [port('va'), port('vb')] }), log, undefined, io);
    const c = new StandaloneAgent(validateConfig({ ports: [port('vc')] }), silentLogger, undefined, io);
    await a.start();
    await c.start();
    const all = () => [...(a.status() as PskPortStatus[]), ...(c.status() as PskPortStatus[])];
    try {
      await until('all three secured', () => all().every((p) => p.kay.secured));
      expect(all().map((p) => p.kay.sci)).toEqual(['02000000000a0001', '02000000000a0002', '02000000000c0001']);
      expect(Object.fromEntries(secyPorts)).toEqual({ va: 1, vb: 2, vc: 1 });
      const ks = all().map((p) => p.kay.keyServer?.sci);
      expect(new Set(ks).size).toBe(1);
      expect(ks[0]).toBe('02000000000a0001');
      for (const p of all()) expect(p.kay.livePeers).toHaveLength(2);
      const sciLines = lines.map((l) => JSON.parse(l)).filter((l) => l.msg === 'SCI assigned');
      expect(sciLines.map((l) => [l.port, l.sci, l.sciPort])).toEqual([
        ['va', '02000000000a0001', 1],
        ['vb', '02000000000a0002', 2],
      ]);
    } finally {
      await a.stop();
      await c.stop();
    }
  });

  it('a stopped port frees its identifier: the next port with that MAC alone gets port 1 again', async () => {
    const hub = new MemoryHub();
    const sciPorts: number[] = [];
    const io: PortIo = {
      openSecy: (spec) => {
        sciPorts.push(spec.sciPort!);
        return { secy: new RecordingSecy(), ifname: spec.macsecName };
      },
      openLink: () => hub.connect(Uint8Array.of(2, 0, 0, 0, 0, 0xa)),
    };
    const cfg = validateConfig({
      ports: [
        { interface: 'va', cak: CAK, ckn: CKN },
        { interface: 'vb', cak: CAK, ckn: CKN },
      ],
    });
    const a = new StandaloneAgent(cfg, silentLogger, undefined, io);
    await a.start();
    await a.stop();
    await a.start();
    await a.stop();
    expect(sciPorts).toEqual([1, 2, 1, 2]);
  });
});

describe('SCI port identifiers of 802.1X ports', () => {
  it("an EAP port's session KaY uses the identifier startPort assigned", async () => {
    const pki = makeTestPki();
    const hub = new MemoryHub();
    const macA = Uint8Array.of(2, 0, 0, 0, 0, 0xa);
    const macB = Uint8Array.of(2, 0, 0, 0, 0, 0xb);
    const io: PortIo = {
      openSecy: (spec) => ({ secy: new RecordingSecy(), ifname: spec.macsecName }),
      openLink: (spec) => hub.connect(spec.interface === 'va' ? macA : macB),
    };
    const base = { secy: { cipherSuite: 'GCM-AES-128' as const, confidentialityOffset: 0 as const, replayWindow: 0 }, mka: { helloTimeMs: 300 } };
    const auth: PortSpec = {
      ...base,
      name: 'va',
      interface: 'va',
      macsecName: 'msva',
      auth: {
        kind: 'eap-authenticator',
        backend: () => new EapTlsServer({ ca: pki.ca.cert, cert: pki.server.cert, key: pki.server.key, identityPolicy: { subjectCn: ['*.vnf.example'] } }),
        pae: { reAuthPeriodMs: 0 },
      },
    };
    const supp: PortSpec = {
      ...base,
      name: 'vb',
      interface: 'vb',
      macsecName: 'msvb',
      auth: {
        kind: 'eap-supplicant',
        method: () => new EapTlsPeer({ identity: 'client1.vnf.example', ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key, logger: () => {} }),
        pae: { identity: 'client1.vnf.example', startPeriodMs: 1000 },
      },
    };
    const sciPorts = new SciPorts();
    sciPorts.allocate(macB); // another port of this agent already has the supplicant's MAC
    const a = await startPort(auth, { io, log: silentLogger, sciPorts });
    const b = await startPort(supp, { io, log: silentLogger, sciPorts });
    try {
      await until('both secured', () => a.secured && b.secured);
      expect(b.spec.sciPort).toBe(2);
      expect(b.status().kay!.sci).toBe('02000000000b0002');
      expect(a.status().kay!.livePeers.map((p) => p.sci)).toEqual(['02000000000b0002']);
    } finally {
      await a.stop();
      await b.stop();
    }
    expect(sciPorts.inUse(macB)).toEqual([1]);
    expect(sciPorts.inUse(macA)).toEqual([]);
  }, 30_000);
});

describe("the KaY is told the SecY's MACsec capability", () => {
  it('a PSK port passes secy.macsecCapability into its KayConfig', async () => {
    const hub = new MemoryHub();
    const seen: (number | undefined)[] = [];
    const kayFactory: KayFactory = (cfg) => {
      seen.push(cfg.macsecCapability);
      return defaultKayFactory(cfg);
    };
    for (const capability of [2, undefined] as const) {
      const io: PortIo = {
        openSecy: (spec) => ({ secy: new RecordingSecy(capability ? { macsecCapability: capability } : {}), ifname: spec.macsecName }),
        openLink: () => hub.connect(Uint8Array.of(2, 0, 0, 0, 0, 0xa)),
      };
      const spec: PortSpec = {
        name: 'va',
        interface: 'va',
        macsecName: 'msva',
        secy: { cipherSuite: 'GCM-AES-128', confidentialityOffset: 0, replayWindow: 0 },
        mka: {},
        auth: { kind: 'psk', primary: { cak: fromHex(CAK), ckn: fromHex(CKN) } },
      };
      const p = await startPort(spec, { io, log: silentLogger, kayFactory });
      await p.stop();
    }
    expect(seen).toEqual([2, 3]);
  });

  it("an 802.1X session's KaY gets the capability of the port's SecY", async () => {
    const pki = makeTestPki();
    const hub = new MemoryHub();
    const seen: (number | undefined)[] = [];
    const kayFactory: KayFactory = (cfg) => {
      seen.push(cfg.macsecCapability);
      return defaultKayFactory(cfg);
    };
    const macs: Record<string, Uint8Array> = { va: Uint8Array.of(2, 0, 0, 0, 0, 0xa), vb: Uint8Array.of(2, 0, 0, 0, 0, 0xb) };
    const io: PortIo = {
      openSecy: (spec) => ({ secy: new RecordingSecy({ macsecCapability: spec.interface === 'va' ? 2 : 1 }), ifname: spec.macsecName }),
      openLink: (spec) => hub.connect(macs[spec.interface]!),
    };
    const base = { secy: { cipherSuite: 'GCM-AES-128' as const, confidentialityOffset: 0 as const, replayWindow: 0 }, mka: { helloTimeMs: 300 } };
    const a = await startPort(
      {
        ...base,
        name: 'va',
        interface: 'va',
        macsecName: 'msva',
        auth: {
          kind: 'eap-authenticator',
          backend: () => new EapTlsServer({ ca: pki.ca.cert, cert: pki.server.cert, key: pki.server.key, identityPolicy: { subjectCn: ['*.vnf.example'] } }),
          pae: { reAuthPeriodMs: 0 },
        },
      },
      { io, log: silentLogger, kayFactory },
    );
    const b = await startPort(
      {
        ...base,
        name: 'vb',
        interface: 'vb',
        macsecName: 'msvb',
        auth: {
          kind: 'eap-supplicant',
          method: () => new EapTlsPeer({ identity: 'client1.vnf.example', ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key, logger: () => {} }),
          pae: { identity: 'client1.vnf.example', startPeriodMs: 1000 },
        },
      },
      { io, log: silentLogger, kayFactory },
    );
    try {
      await until('both sessions started', () => seen.length === 2);
      expect([...seen].sort()).toEqual([1, 2]);
    } finally {
      await a.stop();
      await b.stop();
    }
  }, 30_000);
});
