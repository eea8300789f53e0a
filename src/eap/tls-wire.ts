/**
 * In-memory transport between Node's TLS engine and the EAP-TLS framing: TLS records written by
 * the engine are collected, records received in EAP-TLS messages are pushed in.
 */
import { type Duplex, duplexPair } from 'node:stream';

export class TlsWire {
  /** The end handed to the TLS engine. */
  readonly inner: Duplex;
  private readonly outer: Duplex;
  private chunks: Buffer[] = [];
  private size = 0;
  /** Incremented on every output chunk or engine event, used to detect quiescence. */
  activity = 0;

  constructor() {
    const [a, b] = duplexPair();
    this.inner = a;
    this.outer = b;
    b.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.size += c.length;
      this.activity++;
    });
    a.on('error', () => {});
    b.on('error', () => {});
  }

  push(data: Uint8Array): void {
    if (data.length > 0) this.outer.write(data);
  }

  get pending(): number {
    return this.size;
  }

  take(): Uint8Array {
    const out = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks = [];
    this.size = 0;
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  /** Waits until the TLS engine has stopped producing output (a few idle event-loop turns). */
  async settle(idleTurns = 3, maxTurns = 1000): Promise<void> {
    let last = this.activity;
    let idle = 0;
    for (let i = 0; i < maxTurns && idle < idleTurns; i++) {
      await new Promise<void>((r) => setImmediate(r));
      if (this.activity !== last) {
        last = this.activity;
        idle = 0;
      } else idle++;
    }
  }

  destroy(): void {
    this.inner.destroy();
    this.outer.destroy();
  }
}
