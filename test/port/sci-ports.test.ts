import { describe, expect, it } from 'vitest';
import { SciPorts } from '../../src/port/sci-ports.js';

const macA = Uint8Array.of(2, 0, 0, 0, 0, 0xa);
const macB = Uint8Array.of(2, 0, 0, 0, 0, 0xb);

describe('SciPorts: one SCI port identifier per port of an agent', () => {
  it('a MAC no other running port uses gets port 1', () => {
    const p = new SciPorts();
    expect(p.allocate(macA)).toBe(1);
    expect(p.allocate(macB)).toBe(1);
  });

  it('a MAC already in use gets the lowest free identifier from 2', () => {
    const p = new SciPorts();
    expect([p.allocate(macA), p.allocate(macA), p.allocate(Uint8Array.from(macA))]).toEqual([1, 2, 3]);
    p.release(macA, 2);
    expect(p.allocate(macA)).toBe(2);
    p.release(macA, 1);
    // Port 1 is free again but the MAC is still used by ports 2 and 3: the new one is not alone.
    expect(p.allocate(macA)).toBe(4);
    expect(p.inUse(macA)).toEqual([2, 3, 4]);
  });

  it('once every port of a MAC is released the next one is port 1 again', () => {
    const p = new SciPorts();
    const a = p.allocate(macA);
    const b = p.allocate(macA);
    p.release(macA, a);
    p.release(macA, b);
    expect(p.inUse(macA)).toEqual([]);
    expect(p.allocate(macA)).toBe(1);
  });

  it('releasing what is not allocated is a no-op', () => {
    const p = new SciPorts();
    p.release(macA, 1);
    expect(p.allocate(macA)).toBe(1);
    p.release(macA, 7);
    expect(p.inUse(macA)).toEqual([1]);
  });

  it('refuses a MAC that is not 6 octets, and runs out after 65535 ports', () => {
    const p = new SciPorts();
    expect(() => p.allocate(new Uint8Array(5))).toThrow(/6 octets/);
    for (let i = 1; i <= 0xffff; i++) p.allocate(macB);
    expect(() => p.allocate(macB)).toThrow(/no free SCI port identifier/);
  });
});
