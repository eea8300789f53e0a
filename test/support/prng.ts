/** Small seeded PRNG (mulberry32) so fuzz runs are reproducible from a printed seed. */
export function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => int(256));
  return { next, int, bytes };
}

/** Applies 1..4 random mutations typical of broken or hostile frames. */
export function mutate(frame: Uint8Array, r: ReturnType<typeof prng>): Uint8Array {
  let f = Uint8Array.from(frame);
  const n = 1 + r.int(4);
  for (let i = 0; i < n; i++) {
    switch (r.int(7)) {
      case 0: // bit flip
        if (f.length) f[r.int(f.length)]! ^= 1 << r.int(8);
        break;
      case 1: // random octet
        if (f.length) f[r.int(f.length)] = r.int(256);
        break;
      case 2: // truncate
        f = f.slice(0, r.int(f.length + 1));
        break;
      case 3: {
        // extend with random tail
        const g = new Uint8Array(f.length + 1 + r.int(64));
        g.set(f);
        g.set(r.bytes(g.length - f.length), f.length);
        f = g;
        break;
      }
      case 4: // corrupt a 12-bit length field near a 4-aligned header
        if (f.length > 22) {
          const at = 18 + 4 * r.int((f.length - 18) >> 2);
          if (at + 3 < f.length) {
            f[at + 2] = r.int(256);
            f[at + 3] = r.int(256);
          }
        }
        break;
      case 5: // EAPOL body length
        if (f.length > 18) new DataView(f.buffer).setUint16(16, r.int(0x10000));
        break;
      case 6: {
        // duplicate a slice
        if (f.length > 20) {
          const s = r.int(f.length - 4),
            e = s + 1 + r.int(Math.min(40, f.length - s));
          const g = new Uint8Array(f.length + (e - s));
          g.set(f.subarray(0, e));
          g.set(f.subarray(s, e), e);
          g.set(f.subarray(e), e + (e - s));
          f = g;
        }
        break;
      }
    }
  }
  return f;
}
