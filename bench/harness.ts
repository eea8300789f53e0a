/** Minimal benchmark loop: runs fn for about `ms` milliseconds after a warm-up and reports ops/s. */
export interface BenchResult {
  name: string;
  ops: number;
  opsPerSec: number;
  nsPerOp: number;
}

export function bench(name: string, fn: () => void, ms = 1500): BenchResult {
  for (let i = 0; i < 2000; i++) fn(); // warm-up: let the JIT settle
  let ops = 0;
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 500; i++) fn();
    ops += 500;
    now = process.hrtime.bigint();
  }
  const ns = Number(now - start);
  return { name, ops, opsPerSec: (ops * 1e9) / ns, nsPerOp: ns / ops };
}

export function printResult(r: BenchResult, target?: number): void {
  const verdict =
    target === undefined
      ? ''
      : r.opsPerSec >= target
        ? `  (target ≥ ${target.toLocaleString('en')}/s: met)`
        : `  (target ≥ ${target.toLocaleString('en')}/s: NOT met)`;
  console.log(
    `${r.name.padEnd(44)} ${Math.round(r.opsPerSec).toLocaleString('en').padStart(10)} ops/s  ${(r.nsPerOp / 1000).toFixed(2).padStart(8)} µs/op${verdict}`,
  );
}
