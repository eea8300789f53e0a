/**
 * macsecctl with its modules loaded once, for scenarios that call it under load (inside UML a
 * cold `node macsecctl.js` takes seconds of the one guest CPU; see managed-hitless.sh):
 *
 *   node test/lab/agent/ctl-warm.mjs <dist>/src <dir>
 *
 * Prints "warm" on stderr, then runs every request <dir>/N.req (the arguments, one per line) as
 * `macsecctl <arguments>` and writes its stdout and stderr to <dir>/N.out, then its exit code to
 * <dir>/N.rc; logs each call's start, exit code and duration on stderr. Runs until killed.
 */
import { existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const [dist, dir] = process.argv.slice(2);
if (!dist || !dir) throw new Error('usage: ctl-warm.mjs <dist>/src <dir>');
const { CommandRegistry } = await import(join(dist, 'cli/command.js'));
const { registerControlCommands } = await import(join(dist, 'cli/commands/control.js'));
process.stderr.write('warm\n');
for (;;) {
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.req'))) {
    const id = f.slice(0, -4);
    const args = readFileSync(join(dir, f), 'utf8').split('\n').filter((a) => a !== '');
    renameSync(join(dir, f), join(dir, `${id}.taken`));
    const t0 = Date.now();
    let out = '';
    const io = { out: (s) => (out += s + '\n'), err: (s) => (out += s + '\n') };
    let code;
    try {
      code = await registerControlCommands(new CommandRegistry('macsecctl')).run(args, io);
    } catch (e) {
      out += `${e?.stack ?? e}\n`;
      code = 1;
    }
    process.stderr.write(`${new Date(t0).toISOString()} ${args.slice(0, 2).join(' ')}: exit ${code} after ${Date.now() - t0} ms\n`);
    writeFileSync(join(dir, `${id}.out`), out);
    writeFileSync(join(dir, `${id}.rc.tmp`), String(code));
    renameSync(join(dir, `${id}.rc.tmp`), join(dir, `${id}.rc`));
  }
  if (!existsSync(dir)) break;
  await sleep(20);
}
