import { Metadata, type ServiceError, status } from '@grpc/grpc-js';
import { type ErrorCode, echo, MacsecError } from '../common/errors.js';

/** The gRPC status each error code maps to at a server's edge (the only place that knows gRPC). */
const STATUS: Record<ErrorCode, status> = {
  invalid_argument: status.INVALID_ARGUMENT,
  not_found: status.NOT_FOUND,
  already_exists: status.ALREADY_EXISTS,
  failed_precondition: status.FAILED_PRECONDITION,
  permission_denied: status.PERMISSION_DENIED,
  unauthenticated: status.UNAUTHENTICATED,
  resource_exhausted: status.RESOURCE_EXHAUSTED,
  deadline_exceeded: status.DEADLINE_EXCEEDED,
  unavailable: status.UNAVAILABLE,
  aborted: status.ABORTED,
  config_invalid: status.INVALID_ARGUMENT,
  usage: status.INVALID_ARGUMENT,
  store_missing: status.FAILED_PRECONDITION,
  pcap_invalid: status.INVALID_ARGUMENT,
  netlink_failed: status.INTERNAL,
  link_failed: status.UNAVAILABLE,
  encode_failed: status.INTERNAL,
  remote_failed: status.UNAVAILABLE,
  internal: status.INTERNAL,
};

export const grpcStatusOf = (code: ErrorCode): status => STATUS[code];

/**
 * A thrown value as a gRPC error for a handler's callback or a stream's 'error' event. Ours keep
 * their message; anything else is an internal error whose message is echoed bounded.
 */
export function toServiceError(e: unknown): Partial<ServiceError> {
  if (e instanceof MacsecError) return { code: STATUS[e.code], details: e.message, metadata: new Metadata() };
  const msg = e instanceof Error ? e.message : String(e);
  return { code: status.INTERNAL, details: `internal error: ${echo(msg, '', 256)}` };
}
