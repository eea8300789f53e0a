/**
 * Operator commands of macsecctl (one per ManagerService call), readable tables or --json:
 * agents.ts, ports.ts, channels.ts (and rekey), keys.ts (key chains), events.ts; the connection options and the shared
 * call-and-print shape are in manager.ts.
 */
import type { CommandRegistry, CommandSpec } from '../command.js';
import { agentCommands } from './agents.js';
import { channelCommands } from './channels.js';
import { eventsCommand } from './events.js';
import { keyCommands } from './keys.js';
import { registerPkiCommands } from './pki.js';
import { portCommands } from './ports.js';

export const controlCommands: CommandSpec[] = [...agentCommands, ...portCommands, ...channelCommands, ...keyCommands, eventsCommand];

/** Adds the operator and PKI commands to macsecctl's registry. */
export function registerControlCommands(reg: CommandRegistry): CommandRegistry {
  reg.add(...controlCommands);
  return registerPkiCommands(reg);
}
