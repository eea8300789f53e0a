#!/usr/bin/env node
/** macsecctl: the operator CLI. Each concern contributes its commands to the registry. */
import { CommandRegistry } from './command.js';
import { registerControlCommands } from './commands/control.js';
import { mkaDecodeCommand } from './mka-commands.js';

export function buildRegistry(): CommandRegistry {
  return registerControlCommands(new CommandRegistry('macsecctl').add(mkaDecodeCommand));
}

const io = { out: (s: string) => process.stdout.write(s + '\n'), err: (s: string) => process.stderr.write(s + '\n') };
buildRegistry()
  .run(process.argv.slice(2), io)
  .then((code) => {
    process.exitCode = code;
  });
