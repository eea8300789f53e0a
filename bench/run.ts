/** `npm run bench`: benchmarks of the MKA core, figures printed (never asserted in tests). */
import { runConvergenceBench } from './convergence.js';
import { runMkpduBench } from './mkpdu.js';

console.log(`node ${process.version}, one core, ${new Date().toISOString()}`);
runMkpduBench();
runConvergenceBench();
