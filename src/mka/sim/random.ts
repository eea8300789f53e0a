/** Deterministic byte generator (xorshift128+) for reproducible simulations. Not for real keys. */
export function seededRandom(seed: number): (n: number) => Uint8Array {
  let s0 = BigInt.asUintN(64, BigInt(seed) * 0x9e3779b97f4a7c15n + 1n);
  let s1 = BigInt.asUintN(64, (BigInt(seed) + 0x632be59bd9b4e019n) * 0xbf58476d1ce4e5b9n);
  const next = (): bigint => {
    let x = s0;
    const y = s1;
    s0 = y;
    x = BigInt.asUintN(64, x ^ (x << 23n));
    s1 = BigInt.asUintN(64, x ^ y ^ (x >> 17n) ^ (y >> 26n));
    return BigInt.asUintN(64, s1 + y);
  };
  for (let i = 0; i < 8; i++) next();
  return (n: number) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 8) {
      let v = next();
      for (let j = 0; j < 8 && i + j < n; j++) {
        out[i + j] = Number(v & 0xffn);
        v >>= 8n;
      }
    }
    return out;
  };
}
