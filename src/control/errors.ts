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

export function toServiceError(e: unknown): Partial<ServiceError> {
  if (e instanceof RpcError) return e.toServiceError();
  const msg = e instanceof Error ? e.message : String(e);
  return { code: status.INTERNAL, details: `internal error: ${msg}` };
}
