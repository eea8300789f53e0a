import { status, Metadata, type ServiceError } from '@grpc/grpc-js';

/** An error carrying a gRPC status code; handlers throw these and the server maps them. */
export class RpcError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
    this.name = 'RpcError';
  }
  toServiceError(): Partial<ServiceError> {
    return { code: this.code, details: this.message, metadata: new Metadata() };
  }
}

export const invalidArgument = (field: string, why: string) => new RpcError(status.INVALID_ARGUMENT, `${field}: ${why}`);
export const notFound = (field: string, why: string) => new RpcError(status.NOT_FOUND, `${field}: ${why}`);
export const failedPrecondition = (msg: string) => new RpcError(status.FAILED_PRECONDITION, msg);
export const permissionDenied = (msg: string) => new RpcError(status.PERMISSION_DENIED, msg);
export const unauthenticated = (msg: string) => new RpcError(status.UNAUTHENTICATED, msg);
export const unavailable = (msg: string) => new RpcError(status.UNAVAILABLE, msg);
export const alreadyExists = (field: string, why: string) => new RpcError(status.ALREADY_EXISTS, `${field}: ${why}`);
export const deadlineExceeded = (msg: string) => new RpcError(status.DEADLINE_EXCEEDED, msg);

/** How many characters of a request value a status message or log line may echo. */
export const ECHO_MAX = 64;

/**
 * The one way to put request input (or anything a peer sent) into a status message or a log
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

export function toServiceError(e: unknown): Partial<ServiceError> {
  if (e instanceof RpcError) return e.toServiceError();
  const msg = e instanceof Error ? e.message : String(e);
  return { code: status.INTERNAL, details: `internal error: ${echo(msg, '', 256)}` };
}
