/**
 * EAP-TLS fragmentation and reassembly (RFC 5216 2.1.5), shared by the server and the peer.
 * Pure: no I/O, no timers.
 */
import { type EapTlsData, encodeEapTls } from './eap.js';

/** Upper bound on a reassembled TLS message (a certificate chain flight). */
export const MAX_TLS_MESSAGE = 64 * 1024;
export const DEFAULT_FRAGMENT_SIZE = 1020;

/** Splits outgoing TLS data into EAP-TLS Type-Data fragments. */
export class TlsFragmenter {
  private queue: Uint8Array[] = [];

  constructor(private readonly fragmentSize: number) {
    if (!Number.isInteger(fragmentSize) || fragmentSize < 64 || fragmentSize > 65000) {
      throw new RangeError('EAP-TLS fragment size must be an integer in 64..65000');
    }
  }

  /** Queues a full TLS message; returns the first fragment's Type-Data. */
  load(tls: Uint8Array): Uint8Array {
    this.queue = [];
    const total = tls.length;
    if (total <= this.fragmentSize) {
      this.queue.push(encodeEapTls({ data: tls }));
    } else {
      for (let off = 0; off < total; off += this.fragmentSize) {
        const end = Math.min(total, off + this.fragmentSize);
        const first = off === 0;
        this.queue.push(encodeEapTls({ more: end < total, data: tls.subarray(off, end), ...(first ? { tlsMessageLength: total } : {}) }));
      }
    }
    return this.queue.shift()!;
  }

  get pending(): boolean {
    return this.queue.length > 0;
  }

  /** Next fragment after the other side acknowledged the previous one. */
  next(): Uint8Array | undefined {
    return this.queue.shift();
  }

  clear(): void {
    this.queue = [];
  }
}

export type ReassemblyResult = { kind: 'complete'; data: Uint8Array } | { kind: 'need-more' } | { kind: 'error'; reason: string };

/** Collects incoming EAP-TLS fragments into one TLS message. */
export class TlsReassembler {
  private parts: Uint8Array[] = [];
  private have = 0;
  private expected: number | undefined;

  get inProgress(): boolean {
    return this.parts.length > 0;
  }

  add(frag: EapTlsData): ReassemblyResult {
    if (this.parts.length === 0 && frag.tlsMessageLength !== undefined) {
      if (frag.tlsMessageLength > MAX_TLS_MESSAGE) {
        return this.fail(`announced TLS message length ${frag.tlsMessageLength} exceeds ${MAX_TLS_MESSAGE}`);
      }
      this.expected = frag.tlsMessageLength;
    }
    this.parts.push(frag.data);
    this.have += frag.data.length;
    if (this.have > MAX_TLS_MESSAGE) return this.fail(`TLS message exceeds ${MAX_TLS_MESSAGE} octets`);
    if (this.expected !== undefined && this.have > this.expected) {
      return this.fail(`received ${this.have} octets, more than the announced ${this.expected}`);
    }
    if (frag.more) {
      if (frag.data.length === 0) return this.fail('empty fragment with the M flag');
      return { kind: 'need-more' };
    }
    if (this.expected !== undefined && this.have !== this.expected) {
      return this.fail(`received ${this.have} octets, announced ${this.expected}`);
    }
    const data = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
    this.reset();
    return { kind: 'complete', data };
  }

  reset(): void {
    this.parts = [];
    this.have = 0;
    this.expected = undefined;
  }

  private fail(reason: string): ReassemblyResult {
    this.reset();
    return { kind: 'error', reason };
  }
}

/** Helpers to read client/server random from plaintext TLS handshake records. */
export class HelloRandomSniffer {
  private hs: Uint8Array[] = [];
  private hsLen = 0;
  private pending = new Uint8Array(0);
  private done = false;
  random: Uint8Array | undefined;

  /** Feeds raw TLS record-layer bytes of one direction; extracts the random of the first Hello. */
  feed(bytes: Uint8Array): void {
    if (this.done) return;
    const buf = this.pending.length ? Buffer.concat([this.pending, bytes]) : bytes;
    let off = 0;
    while (off + 5 <= buf.length) {
      const type = buf[off]!;
      const len = (buf[off + 3]! << 8) | buf[off + 4]!;
      if (off + 5 + len > buf.length) break;
      if (type === 22) {
        this.hs.push(buf.subarray(off + 5, off + 5 + len));
        this.hsLen += len;
      } else {
        this.done = true; // ChangeCipherSpec/alert/app data before a Hello: stop looking
      }
      off += 5 + len;
      if (this.hsLen >= 38) {
        const hs = Buffer.concat(this.hs);
        if (hs[0] === 1 || hs[0] === 2) this.random = Uint8Array.from(hs.subarray(6, 38));
        this.done = true;
        this.hs = [];
        break;
      }
    }
    this.pending = this.done ? new Uint8Array(0) : Uint8Array.from(buf.subarray(off));
  }
}
