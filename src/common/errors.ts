/**
 * The one error model. Every error this code throws on purpose is a `MacsecError` with a stable
 * `code` a caller can branch on (instead of chaining `instanceof` or parsing messages). Codes are
 * transport-neutral: the gRPC servers map them to a status at their edge
 * (`src/control/errors.ts`), the command-line tools to an exit message. Messages name the field
 * at fault and never carry key material; request input goes in only through `echo`.
 */
export type ErrorCode =
  // a request (API or CLI) that is wrong, or a state that forbids it
  | 'invalid_argument'
  | 'not_found'
  | 'already_exists'
  | 'failed_precondition'
  | 'permission_denied'
  | 'unauthenticated'
  | 'resource_exhausted'
  | 'deadline_exceeded'
  | 'unavailable'
  | 'aborted'
  // files and command lines
  | 'config_invalid'
  | 'usage'
  | 'store_missing'
  | 'pcap_invalid'
  // wire and kernel
  | 'netlink_failed'
  | 'link_failed'
  | 'encode_failed'
  // a call to another service failed (the remote status is in the error)
  | 'remote_failed'
  | 'internal';

export class MacsecError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** True if `e` is one of ours with this code. */
export const hasCode = (e: unknown, code: ErrorCode): e is MacsecError => e instanceof MacsecError && e.code === code;

export const invalidArgument = (field: string, why: string) => new MacsecError('invalid_argument', `${field}: ${why}`);
export const notFound = (field: string, why: string) => new MacsecError('not_found', `${field}: ${why}`);
export const alreadyExists = (field: string, why: string) => new MacsecError('already_exists', `${field}: ${why}`);
export const failedPrecondition = (msg: string) => new MacsecError('failed_precondition', msg);
export const permissionDenied = (msg: string) => new MacsecError('permission_denied', msg);
export const unauthenticated = (msg: string) => new MacsecError('unauthenticated', msg);
export const unavailable = (msg: string) => new MacsecError('unavailable', msg);
export const deadlineExceeded = (msg: string) => new MacsecError('deadline_exceeded', msg);
export const resourceExhausted = (msg: string) => new MacsecError('resource_exhausted', msg);

/**
 * A configuration file (or a set of flags) that is wrong: one problem, or every problem of a
 * file at once (each naming its field, e.g. `ports[1].priority: must be an integer from 0 to 255`).
 */
export class ConfigError extends MacsecError {
  readonly problems: string[];
  constructor(problems: string | string[]) {
    const list = typeof problems === 'string' ? [problems] : problems;
    super('config_invalid', typeof problems === 'string' ? problems : `invalid configuration:\n  ${list.join('\n  ')}`);
    this.problems = list;
  }
}

/** How many characters of a request value a status message or log line may echo. */
export const ECHO_MAX = 64;

/**
 * The one way to put request input (or anything a peer sent) into an error message or a log
 * line: quoted, control characters escaped as in JSON, at most `max` characters of it; a longer
 * value is cut and followed by `…(N chars)` with its full length. Pass quote '' for text that is
 * not a value (an agent's error detail).
 */
export function echo(v: unknown, quote: '"' | "'" | '' = '"', max = ECHO_MAX): string {
  const s = typeof v === 'string' ? v : String(v);
  let out = '';
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const piece = c < 0x20 || c === 0x22 || c === 0x5c ? JSON.stringify(s[i]).slice(1, -1) : s[i]!;
    if (out.length + piece.length > max) break;
    out += piece;
  }
  return i < s.length ? `${quote}${out}${quote}…(${s.length} chars)` : `${quote}${out}${quote}`;
}
