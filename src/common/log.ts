/**
 * JSON line logger. Field names that can carry secrets are redacted, and byte arrays are never
 * printed, so a log line cannot leak a CAK, SAK or private key.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };
const SECRET_KEY = /(^|_|-)(cak|sak|kek|ick|psk|key|secret|password|private|token|msk)(_|-|$)|^(cak|sak|psk|key|secret|privateKey|keyPem|cakHex|cak_hex)$/i;

/**
 * Bounds on one logged value, so that no field (request input that nobody clipped, a peer's list
 * of capabilities) can make a log line large: strings are cut to MAX_LOG_STRING characters plus
 * `…(N chars)`, arrays to MAX_LOG_ITEMS items plus a `…(N items)` marker, objects to as many keys.
 */
export const MAX_LOG_STRING = 1024;
export const MAX_LOG_ITEMS = 64;

export function redact(value: unknown, depth = 0): unknown {
  if (value === null || value === undefined) return value;
  if (depth > 6) return '[depth]';
  if (typeof value === 'string') return value.length > MAX_LOG_STRING ? `${value.slice(0, MAX_LOG_STRING)}…(${value.length} chars)` : value;
  if (value instanceof Uint8Array) return `[${value.length} bytes]`;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Error) return { name: value.name, message: redact(value.message, depth + 1) };
  if (Array.isArray(value)) {
    const out = value.slice(0, MAX_LOG_ITEMS).map((v) => redact(v, depth + 1));
    if (value.length > MAX_LOG_ITEMS) out.push(`…(${value.length} items)`);
    return out;
  }
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    const keys = Object.keys(value);
    for (const k of keys.slice(0, MAX_LOG_ITEMS)) {
      const v = (value as Record<string, unknown>)[k];
      out[k] = SECRET_KEY.test(k) && k !== 'keyServer' && k !== 'key_server' ? '[redacted]' : redact(v, depth + 1);
    }
    if (keys.length > MAX_LOG_ITEMS) out['…'] = `(${keys.length} keys)`;
    return out;
  }
  return value;
}

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export function createLogger(base: Record<string, unknown> = {}, opts: { level?: Level; write?: (line: string) => void } = {}): Logger {
  const min = ORDER[opts.level ?? (process.env.MACSEC_LOG_LEVEL as Level | undefined) ?? 'info'] ?? 20;
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const emit = (level: Level, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    const rec = { ts: new Date().toISOString(), level, msg: redact(msg), ...(redact(base) as object), ...(redact(fields ?? {}) as object) };
    write(JSON.stringify(rec));
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (f) => createLogger({ ...base, ...f }, opts),
  };
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};
