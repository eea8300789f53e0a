/** `npm run bench`: every benchmark of the MKA core, figures printed (never asserted in tests). */
import { runMkpduBench } from './mkpdu.js';

console.log(`node ${process.version}, one core, ${new Date().toISOString()}`);
runMkpduBench();
