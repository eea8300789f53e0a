/**
 * startPort on the host: the standalone agent's ports (PortSpec from a configuration file) over
 * an in-memory LAN with recording SecYs instead of the kernel, and the one secured/unsecured
 * derivation every kind of port shares.
 */
import { describe, expect, it } from 'vitest';
import { StandaloneAgent, type PskPortStatus } from '../../src/agent/standalone/agent.js';
import { validateConfig } from '../../src/agent/standalone/config.js';
import { silentLogger } from '../../src/common/log.js';
import { MemoryHub } from '../../src/link/memory.js';
import type { PortIo } from '../../src/port/io.js';
import { SecuredState } from '../../src/port/start.js';
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
