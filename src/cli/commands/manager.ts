/**
 * What every operator command of macsecctl shares: the connection options, one manager client per
 * command, gRPC errors printed as `error: CODE: details` (or JSON with --json), and
 * managerCommand for the common shape "one ManagerService call, then print its answer".
 *
 * Connection: --server (env MACSEC_SERVER, default 127.0.0.1:50051) and the client certificate:
 * --ca/--cert/--key (env MACSEC_CA, MACSEC_CERT, MACSEC_KEY), or --pki-dir D --user NAME meaning
 * D/ca.crt and D/<NAME>.crt/.key.
 */
import { status } from '@grpc/grpc-js';
import { join } from 'node:path';
import type { CommandContext, CommandSpec, OptionSpec } from '../command.js';
import { out, UsageError } from '../command.js';
import { ManagerApi, ManagerCallError } from '../../control/client.js';
import { loadTls } from '../../control/tls.js';

export const CONN: Record<string, OptionSpec> = {
  server: { type: 'string', description: 'manager address host:port (env MACSEC_SERVER; default 127.0.0.1:50051)' },
  ca: { type: 'string', description: 'CA certificate (env MACSEC_CA)' },
  cert: { type: 'string', description: 'client certificate (env MACSEC_CERT)' },
  key: { type: 'string', description: 'client key (env MACSEC_KEY)' },
  'pki-dir': { type: 'string', description: 'PKI directory: use <dir>/ca.crt and <dir>/<user>.crt/.key' },
  user: { type: 'string', description: 'certificate base name inside --pki-dir (e.g. admin-alice)' },
  timeout: { type: 'string', description: 'call timeout in ms (default 30000)' },
  json: { type: 'boolean', description: 'print JSON instead of a table' },
};

/** A non-empty string option, or undefined. */
export function opt(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.options[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** A non-negative integer option, or undefined. */
export function num(ctx: CommandContext, name: string): number | undefined {
  const v = opt(ctx, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer`);
  return n;
}

export function connect(ctx: CommandContext): ManagerApi {
  const server = opt(ctx, 'server') ?? process.env.MACSEC_SERVER ?? '127.0.0.1:50051';
  const dir = opt(ctx, 'pki-dir') ?? process.env.MACSEC_PKI_DIR;
  const user = opt(ctx, 'user') ?? process.env.MACSEC_USER;
  const ca = opt(ctx, 'ca') ?? process.env.MACSEC_CA ?? (dir ? join(dir, 'ca.crt') : undefined);
  const cert = opt(ctx, 'cert') ?? process.env.MACSEC_CERT ?? (dir && user ? join(dir, `${user}.crt`) : undefined);
  const key = opt(ctx, 'key') ?? process.env.MACSEC_KEY ?? (dir && user ? join(dir, `${user}.key`) : undefined);
  if (!ca || !cert || !key) throw new UsageError('a client certificate is required: --ca/--cert/--key or --pki-dir with --user');
  const timeoutMs = Number(opt(ctx, 'timeout') ?? 30_000);
  return ManagerApi.connect({ address: server, ...loadTls({ ca, cert, key }) }, { timeoutMs });
}

/** Runs `fn` with a connected client; a gRPC error is printed (exit code 1), anything else rethrown. */
export async function withApi(ctx: CommandContext, fn: (api: ManagerApi) => Promise<number>): Promise<number> {
  const api = connect(ctx);
  try {
    return await fn(api);
  } catch (e) {
    // A failed call (ManagerCallError) or a failed stream (a grpc-js ServiceError).
    const se = e instanceof ManagerCallError ? { code: e.status, details: e.details } : (e as { code?: number; details?: string });
    if (typeof se.code === 'number' && se.details !== undefined) {
      const code = status[se.code] ?? se.code;
      if (ctx.options.json) ctx.io.err(JSON.stringify({ error: { code, message: se.details } }));
      else ctx.io.err(`error: ${code}: ${se.details}`);
      return 1;
    }
    throw e;
  } finally {
    api.close();
  }
}

/** An enum value's name without its prefix, lower case with dashes: PORT_STATE_SECURED -> secured. */
export const short = (s: string, prefix: string) => s.replace(prefix, '').toLowerCase().replace(/_/g, '-');

export interface ManagerCommandSpec<R> extends Omit<CommandSpec, 'run' | 'options'> {
  /** Options besides the connection options (CONN). */
  options?: Record<string, OptionSpec>;
  /** The manager call (after the connection is made; UsageErrors from here print the usage). */
  call(api: ManagerApi, ctx: CommandContext): Promise<R>;
  /** The answer for --json. */
  json(r: R): unknown;
  /** The answer as text. */
  text(r: R, ctx: CommandContext): string;
}

/** A command that makes one manager call and prints the answer (text, or JSON with --json). */
export function managerCommand<R>({ call, json, text, options, ...spec }: ManagerCommandSpec<R>): CommandSpec {
  return {
    ...spec,
    options: { ...CONN, ...options },
    run: (ctx) =>
      withApi(ctx, async (api) => {
        const r = await call(api, ctx);
        out(ctx, json(r), () => text(r, ctx));
        return 0;
      }),
  };
}
