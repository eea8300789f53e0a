/**
 * Simulated convergence of MKA groups starting together: frames exchanged and simulated time
 * until every member is secured (issue target: a two-party session in ≤ 3 frame exchanges),
 * and how fast the simulation itself runs.
 */
import { fromHex } from '../src/common/hex.js';
import type { KayConfig } from '../src/mka/kay-types.js';
import { SimLan, seededRandom } from '../src/mka/sim/index.js';

const CAK = fromHex('135bd758b0ee5c11c55ff6ab19fdb199');
const CKN = fromHex('96437a93ccf10d9dfe347846cce52c7d');

function group(n: number, seed: number): SimLan {
  const lan = new SimLan();
  for (let i = 1; i <= n; i++) {
    const cfg: KayConfig = {
      sci: { mac: Uint8Array.of(2, 0, 0, 0, 0, i), port: 1 },
      primary: { cak: CAK, ckn: CKN },
      random: seededRandom(seed * 100 + i),
    };
    lan.add(`m${i}`, cfg);
  }
  return lan;
}

export function runConvergenceBench(): void {
  for (const n of [2, 3, 8]) {
    const lan = group(n, 1);
    lan.startAll();
    if (!lan.runUntilConverged(30_000)) throw new Error(`${n} members did not converge`);
    const perMember = lan.frames.length / n;
    console.log(
      `convergence, ${n} members starting together`.padEnd(44) +
        `${String(lan.frames.length).padStart(4)} MKPDUs (${perMember.toFixed(1)} per member = frame exchanges), ${lan.now} ms simulated` +
        (n === 2 ? `  (target ≤ 3 exchanges: ${perMember <= 3 ? 'met' : 'NOT met'})` : ''),
    );
  }
  const t0 = performance.now();
  let runs = 0;
  while (performance.now() - t0 < 1500) {
    const lan = group(2, runs + 2);
    lan.startAll();
    lan.runUntilConverged(30_000);
    runs++;
  }
  console.log(
    `${'simulated 2-party sessions secured'.padEnd(44)} ${Math.round((runs * 1000) / (performance.now() - t0))
      .toLocaleString('en')
      .padStart(10)} sessions/s (one core, full KaY + crypto)`,
  );
}
