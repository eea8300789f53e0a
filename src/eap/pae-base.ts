/**
 * What the authenticator and supplicant PAEs share: the output one call collects (frames and
 * actions), the one timer, log actions, and the first checks on a received EAPOL frame.
 */
import { type EapLogLevel, formatDecodeError } from './decode.js';
import { type EapolPdu, PAE_GROUP_ADDRESS, decodeEapolFrame } from './eapol.js';
import { bytesEqual } from '../common/hex.js';

export interface PaeOutput<A> {
  readonly frames: Uint8Array[];
  readonly actions: A[];
}

export type PaeLogAction = { readonly type: 'log'; readonly level: EapLogLevel; readonly msg: string; readonly fields?: Record<string, unknown> };

export abstract class PaeBase<S extends string, A extends { readonly type: string }, K extends string> {
  protected abstract st: S;
  protected timer: { kind: K; at: number } | undefined;
  protected out: PaeOutput<A> = { frames: [], actions: [] };
  /** EAPOL protocol version written in our frames. */
  protected readonly version: number;

  /** `localMac` is this PAE's own MAC address (named `macName` in the error when it is not 6 octets). */
  constructor(
    private readonly localMac: Uint8Array,
    macName: string,
    eapolVersion: number | undefined,
  ) {
    if (localMac.length !== 6) throw new RangeError(`${macName} must be 6 octets`);
    this.version = eapolVersion ?? 3;
  }

  get state(): S {
    return this.st;
  }

  /** Absolute time (ms) at which tick() must be called, if any. */
  nextTimeout(): number | undefined {
    return this.timer?.at;
  }

  receive(frame: Uint8Array, now: number): PaeOutput<A> {
    this.begin();
    this.onFrame(frame, now);
    return this.end();
  }

  protected abstract onFrame(frame: Uint8Array, now: number): void;

  protected begin(): void {
    this.out = { frames: [], actions: [] };
  }
  protected end(): PaeOutput<A> {
    const o = this.out;
    this.out = { frames: [], actions: [] };
    return o;
  }
  protected log(level: EapLogLevel, msg: string, fields?: Record<string, unknown>): void {
    const a: PaeLogAction = fields ? { type: 'log', level, msg, fields } : { type: 'log', level, msg };
    this.out.actions.push(a as unknown as A);
  }

  /** The timer's kind if it is due at `now` (it is then cleared), else undefined. */
  protected takeDueTimer(now: number): K | undefined {
    const t = this.timer;
    if (!t || t.at > now) return undefined;
    this.timer = undefined;
    return t.kind;
  }

  /**
   * Decodes a received frame; undefined (logged when malformed) for a frame that is not for us:
   * malformed, our own (capture echo), or addressed neither to the PAE group address nor to us.
   */
  protected decodeOwnFrame(frame: Uint8Array): { src: Uint8Array; pdu: EapolPdu } | undefined {
    const d = decodeEapolFrame(frame);
    if (!d.ok) {
      this.log('debug', 'ignored malformed EAPOL frame', { error: formatDecodeError(d.error) });
      return undefined;
    }
    const { src, dst, pdu } = d.value;
    if (bytesEqual(src, this.localMac)) return undefined;
    if (!bytesEqual(dst, PAE_GROUP_ADDRESS) && !bytesEqual(dst, this.localMac)) return undefined;
    return { src, pdu };
  }
}
