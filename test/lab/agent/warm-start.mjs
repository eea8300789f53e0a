/**
 * Starts the compiled PSK agent with its modules already loaded, for a quick restart in the UML
 * lab (a process restart as deployed, where loading the modules is not what takes the time):
 *
 *   WARM_START_GO=<file> node test/lab/agent/warm-start.mjs <dist>/src/agent/standalone/main.js --config ... --status-file ...
 *
 * Loads the agent's modules next to main.js, prints "warm" on stderr, waits until <file>
 * exists (checked every WARM_START_POLL_MS, default 10), then runs main.js with the remaining
 * arguments.
 */
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const go = process.env.WARM_START_GO;
const pollMs = Number(process.env.WARM_START_POLL_MS ?? 10);
if (!go) throw new Error('WARM_START_GO is not set');
const [main] = process.argv.splice(2, 1);
if (!main) throw new Error('usage: warm-start.mjs <main.js> [agent arguments]');
const url = new URL(main, `file://${process.cwd()}/`);
await import(new URL('agent.js', url).href);
await import(new URL('config.js', url).href);
await import(new URL('../../common/log.js', url).href);
process.stderr.write('warm\n');
while (!existsSync(go)) await sleep(pollMs);
await import(url.href);
