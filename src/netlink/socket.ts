/**
 * Request/response on a netlink socket from the `netlink` package, with our own
 * error handling: the package's `request` is called with `checkError: false`
 * and NLMSG_ERROR replies become MacsecNetlinkError with the errno and the
 * operation's name.
 */
import { endianness } from 'node:os';
import type { NetlinkSocket } from 'netlink';
import { MacsecNetlinkError } from './errors.js';
import { NLMSG_ERROR } from './uapi.js';

const DEFAULT_TIMEOUT_MS = 5_000;

export interface NlReply {
  type: number;
  flags: number;
  data: Buffer;
}

/**
 * Send one request (REQUEST|ACK are added by the package) and return the reply
 * messages: [] for a plain ACK, one or more for GET / DUMP.
 */
export async function nlRequest(
  sock: NetlinkSocket,
  type: number,
  flags: number,
  payload: Uint8Array[],
  operation: string,
  timeoutMs = DEFAULT_TIMEOUT_MS,
): Promise<NlReply[]> {
  let msgs;
  try {
    [msgs] = await sock.request(type, payload, { flags, checkError: false, timeout: timeoutMs });
  } catch (err) {
    const e = err as { errno?: number; code?: string; message?: string };
    if (typeof e.errno === 'number') throw new MacsecNetlinkError(operation, e.errno, e.code);
    throw new MacsecNetlinkError(operation, 0, 'ETIMEDOUT', e.message);
  }
  const out: NlReply[] = [];
  for (const m of msgs) {
    if (m.type === NLMSG_ERROR) {
      if (m.data.length < 4) throw new MacsecNetlinkError(operation, 0, 'EPROTO', 'short NLMSG_ERROR');
      const errno = endianness() === 'LE' ? m.data.readInt32LE(0) : m.data.readInt32BE(0);
      if (errno !== 0) throw new MacsecNetlinkError(operation, errno);
      continue; // ACK
    }
    out.push({ type: m.type, flags: m.flags, data: m.data });
  }
  return out;
}
