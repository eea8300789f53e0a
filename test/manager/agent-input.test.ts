/** Bounds on agent reports (src/manager/agent-input.ts): property tests and the cases that matter. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PortStatus } from '../../src/control/gen/macsec/v1/types.js';
import { LIMITS, boundEvent, boundHello, boundStatus } from '../../src/manager/agent-input.js';

const text = (max: number) => fc.string({ maxLength: max });

describe('agent report bounds', () => {
  it('never lets a status exceed the limits, and leaves a normal status untouched', () => {
    fc.assert(
      fc.property(text(3000), fc.array(fc.record({ name: text(80), value: fc.nat() }), { maxLength: 300 }), text(200), (detail, counters, ki) => {
        const st = PortStatus.fromPartial({ detail, counters, keyIdentifier: ki });
        const { value, cut } = boundStatus(st);
        expect(value.detail.length).toBeLessThanOrEqual(LIMITS.detail);
        expect(value.keyIdentifier.length).toBeLessThanOrEqual(LIMITS.shortText);
        expect(value.counters.length).toBeLessThanOrEqual(256);
        for (const c of value.counters) expect(c.name).toMatch(/^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/);
        const untouched = detail.length <= LIMITS.detail && ki.length <= LIMITS.shortText && value.counters.length === counters.length;
        expect(cut === '').toBe(untouched);
      }),
    );
    const normal = PortStatus.fromPartial({
      detail: 'secured',
      counters: [{ name: 'mka_mkpdus_sent', value: 3 }],
      livePeers: [{ sci: 'a'.repeat(16), mi: 'b'.repeat(24) }],
    });
    expect(boundStatus(normal)).toEqual({ value: normal, cut: '' });
  });

  it('cuts an oversized event: a 4 MB message and 10,000 attributes', () => {
    const attributes = Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [`k${i}`.repeat(40), 'v'.repeat(1000)]));
    const { value, cut } = boundEvent({ portId: 'a1/eth1', kind: 'error', message: 'x'.repeat(4 << 20), attributes, timeMs: 0 });
    expect(cut).toBe('event_oversized');
    expect(value.message.length).toBe(LIMITS.message);
    expect(Object.keys(value.attributes)).toHaveLength(LIMITS.attributes);
    for (const [k, v] of Object.entries(value.attributes)) {
      expect(k.length).toBeLessThanOrEqual(LIMITS.attributeKey);
      expect(v.length).toBeLessThanOrEqual(LIMITS.attributeValue);
    }
    const ok = { portId: 'a1/eth1', kind: 'rekey', message: 'key 2', attributes: { key_number: '2' }, timeMs: 1 };
    expect(boundEvent(ok)).toEqual({ value: ok, cut: '' });
  });

  it('bounds what a Hello stores', () => {
    const h = boundHello({
      agentId: 'a1',
      version: 'v'.repeat(1000),
      capabilities: Array.from({ length: 1000 }, (_, i) => `cap${i}`),
      interfaces: [{ name: 'e'.repeat(100), mac: 'm'.repeat(100) }],
      running: [],
      bootId: 'b',
    });
    expect(h.cut).toBe('hello_oversized');
    expect(h.value.version.length).toBe(LIMITS.shortText);
    expect(h.value.capabilities).toHaveLength(LIMITS.capabilities);
    expect(h.value.interfaces[0]).toEqual({ name: 'e'.repeat(15), mac: 'm'.repeat(17) });
  });
});
