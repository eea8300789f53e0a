/**
 * A tiny command registry for `macsecctl`: each concern registers its commands
 * (path, options, run) and the entry point dispatches. Options are parsed with node:util.
 */
import { MacsecError } from '../common/errors.js';
import { parseArgs } from 'node:util';

export interface CliIo {
  out(s: string): void;
  err(s: string): void;
}

export type OptionSpec = { type: 'string' | 'boolean'; multiple?: boolean; short?: string; description: string };

export interface CommandContext {
  positionals: string[];
  options: Record<string, string | boolean | string[] | undefined>;
  io: CliIo;
}

export interface CommandSpec {
  /** Words that select the command, e.g. ['mka', 'decode']. */
  path: string[];
  summary: string;
  /** Positional part of the usage line, e.g. '<file.pcap>'. */
  args?: string;
  minPositionals?: number;
  maxPositionals?: number;
  options?: Record<string, OptionSpec>;
  /** Returns the process exit code. */
  run(ctx: CommandContext): Promise<number>;
}

/** A usage or input error: printed without a stack trace, exit code 2. */
export class UsageError extends MacsecError {
  constructor(message: string) {
    super('usage', message);
  }
}

export class CommandRegistry {
  private readonly commands: CommandSpec[] = [];

  constructor(private readonly program: string) {}

  add(...specs: CommandSpec[]): this {
    this.commands.push(...specs);
    return this;
  }

  help(prefix: string[] = []): string {
    const lines = [`usage: ${this.program} <command> [options]`, '', 'commands:'];
    for (const c of this.commands.filter((c) => prefix.every((w, i) => c.path[i] === w))) {
      lines.push(`  ${[...c.path, c.args ?? ''].join(' ').trim().padEnd(34)} ${c.summary}`);
    }
    return lines.join('\n');
  }

  usage(c: CommandSpec): string {
    const lines = [`usage: ${this.program} ${c.path.join(' ')} ${c.args ?? ''}`.trim(), '', c.summary];
    for (const [name, o] of Object.entries(c.options ?? {})) {
      lines.push(`  --${name}${o.type === 'string' ? ' <value>' : ''}`.padEnd(28) + o.description);
    }
    return lines.join('\n');
  }

  async run(argv: string[], io: CliIo): Promise<number> {
    const cmd = this.commands.filter((c) => c.path.every((w, i) => argv[i] === w)).sort((a, b) => b.path.length - a.path.length)[0];
    if (!cmd) {
      const known = argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h';
      (known ? io.out : io.err)(this.help(known ? [] : argv.slice(0, 1)));
      if (!known) io.err(`\nunknown command: ${argv.join(' ')}`);
      return known ? 0 : 2;
    }
    const rest = argv.slice(cmd.path.length);
    if (rest.includes('--help') || rest.includes('-h')) {
      io.out(this.usage(cmd));
      return 0;
    }
    try {
      const parsed = parseArgs({
        args: rest,
        options: Object.fromEntries(
          Object.entries(cmd.options ?? {}).map(([k, o]) => [k, { type: o.type, multiple: o.multiple ?? false, ...(o.short ? { short: o.short } : {}) }]),
        ),
        allowPositionals: true,
        strict: true,
      });
      const n = parsed.positionals.length;
      if (n < (cmd.minPositionals ?? 0) || n > (cmd.maxPositionals ?? Infinity)) {
        throw new UsageError(`expected ${cmd.args ?? 'no arguments'}`);
      }
      return await cmd.run({ positionals: parsed.positionals, options: parsed.values as CommandContext['options'], io });
    } catch (e) {
      const err = e as Error & { code?: string };
      if (e instanceof UsageError || err.code?.startsWith('ERR_PARSE_ARGS')) {
        io.err(`${this.program} ${cmd.path.join(' ')}: ${err.message}\n\n${this.usage(cmd)}`);
        return 2;
      }
      io.err(`${this.program} ${cmd.path.join(' ')}: ${err.message}`);
      return 1;
    }
  }
}

/** Prints `json` (pretty) with --json, else `text()`. */
export function out(ctx: CommandContext, json: unknown, text: () => string): void {
  ctx.io.out(ctx.options.json ? JSON.stringify(json, null, 2) : text());
}

/** The positional part of a command that takes exactly `n` arguments, shown as `args` in its usage. */
export function positionals(args: string, n: number): Pick<CommandSpec, 'args' | 'minPositionals' | 'maxPositionals'> {
  return { args, minPositionals: n, maxPositionals: n };
}

/** Reads a required string option or throws a UsageError naming it. */
export function requireString(ctx: CommandContext, name: string): string {
  const v = ctx.options[name];
  if (typeof v !== 'string' || v === '') throw new UsageError(`--${name} is required`);
  return v;
}
