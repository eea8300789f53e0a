import { getSystemErrorName } from 'node:util';
import { MacsecError } from '../common/errors.js';

/** Errno name for a (positive or negative) errno, e.g. 17 -> "EEXIST". */
export function errnoName(errno: number): string {
  const n = -Math.abs(errno);
  try {
    return getSystemErrorName(n);
  } catch {
    return `errno ${Math.abs(errno)}`;
  }
}

/**
 * A netlink request the kernel (or the socket) rejected. `message` names the
 * operation and the errno, e.g. `add RX SA (sci 020000000000000a0001, an 1): EEXIST`.
 * Never carries key material.
 */
export class MacsecNetlinkError extends MacsecError {
  /** Positive errno (0 if the failure was not an errno, e.g. a timeout). */
  readonly errno: number;
  /** Errno name such as "EEXIST", or a short reason. */
  readonly errnoName: string;

  constructor(
    readonly operation: string,
    errno: number,
    code?: string,
    detail?: string,
  ) {
    const c = code ?? errnoName(errno);
    super('netlink_failed', `${operation}: ${c}${detail ? ` (${detail})` : ''}`);
    this.errno = Math.abs(errno);
    this.errnoName = c;
  }
}
