#!/usr/bin/env node
/**
 * Standalone entry for the control-plane and PKI commands (same commands as `macsecctl` once
 * registerControlCommands is wired into src/cli/macsecctl.ts).
 */
import { CommandRegistry } from '../command.js';
import { registerControlCommands } from './control.js';

const io = { out: (s: string) => process.stdout.write(s + '\n'), err: (s: string) => process.stderr.write(s + '\n') };
registerControlCommands(new CommandRegistry('macsecctl'))
  .run(process.argv.slice(2), io)
  .then((code) => {
    process.exitCode = code;
  });
