/**
 * Structured JSON-lines logger. Log records carry names, identifiers and counters only:
 * callers never pass key material, and `redact` strips fields whose names look like keys
 * in case one slips through.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

const SECRET_FIELD = /^(cak|sak|msk|emsk|key|kek|ick|secret|password|privateKey|private_key)$/i;

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export function redact(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (SECRET_FIELD.test(k)) out[k] = '[redacted]';
    else if (v instanceof Uint8Array) out[k] = `[${v.length} octets]`;
    else if (typeof v === 'bigint') out[k] = v.toString();
    else if (v instanceof Error) out[k] = v.message;
    else out[k] = v;
  }
  return out;
}

export function createLogger(opts: { level?: LogLevel; write?: (line: string) => void; base?: Record<string, unknown> } = {}): Logger {
  const min = ORDER[opts.level ?? ((process.env.LOG_LEVEL as LogLevel | undefined) ?? 'info')] ?? ORDER.info;
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const base = opts.base ?? {};
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...redact({ ...base, ...fields }) }));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (f) => createLogger({ ...opts, base: { ...base, ...f } }),
  };
}

/** A logger that keeps records in memory, for tests. */
export function memoryLogger(): Logger & { records: Record<string, unknown>[] } {
  const records: Record<string, unknown>[] = [];
  const l = createLogger({ level: 'debug', write: (line) => records.push(JSON.parse(line)) });
  return Object.assign(l, { records });
}
