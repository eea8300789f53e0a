/**
 * Supplicant PAE (IEEE 802.1X-2010 clause 8, simplified): a pure object. It sends EAPOL-Start,
 * answers EAP-Request/Identity itself, hands every other EAP packet to an EAP peer method via
 * actions, repeats its last response when the authenticator retransmits, and restarts on silence.
 */
import type { PeerStep } from './eaptls-peer.js';
import { formatDecodeError } from './decode.js';
import { EapCode, EapType, decodeEap, encodeIdentityResponse } from './eap.js';
import { EapolType, PAE_GROUP_ADDRESS, encodeEapolFrame } from './eapol.js';
import { deriveMkaKeysFromEap } from './keys.js';
import { PaeBase, type PaeLogAction, type PaeOutput } from './pae-base.js';
import { bytesEqual, macToString } from '../common/hex.js';

export interface SupplicantPaeConfig {
  readonly ownMac: Uint8Array;
  readonly identity: string;
  /** EAPOL version in our frames (default 3). */
  readonly eapolVersion?: number;
  /** EAPOL-Start retransmission period (startPeriod, default 30 s). */
  readonly startPeriodMs?: number;
  /** Give up waiting for the next EAP-Request after this long and restart (authPeriod, default 30 s). */
  readonly authPeriodMs?: number;
  /** Hold-off after a failure before sending EAPOL-Start again (heldPeriod, default 60 s). */
  readonly heldPeriodMs?: number;
}

export type SupplicantAction =
  /** Hand `eap` to method instance `session` (create it when new). */
  | { readonly type: 'method-eap'; readonly session: number; readonly eap: Uint8Array }
  | { readonly type: 'method-abort'; readonly session: number }
  | {
      readonly type: 'authenticated';
      readonly authenticator: Uint8Array;
      readonly msk: Uint8Array;
      readonly emsk?: Uint8Array;
      readonly sessionId: Uint8Array;
      readonly cak: Uint8Array;
      readonly ckn: Uint8Array;
    }
  | { readonly type: 'unauthenticated'; readonly reason: string }
  | PaeLogAction;

export type SupplicantState = 'disabled' | 'connecting' | 'authenticating' | 'authenticated' | 'held' | 'logoff';
type TimerKind = 'start' | 'auth' | 'held';

export class SupplicantPae extends PaeBase<SupplicantState, SupplicantAction, TimerKind> {
  protected st: SupplicantState = 'disabled';
  private auth: Uint8Array | undefined;
  private session = 0;
  private active: number | undefined;
  private inFlight = false;
  private lastReq: Uint8Array | undefined;
  private lastResp: Uint8Array | undefined;
  private starts = 0;
  private authenticatedFlag = false;

  constructor(readonly config: SupplicantPaeConfig) {
    super(config.ownMac, 'ownMac', config.eapolVersion);
  }

  get authenticated(): boolean {
    return this.authenticatedFlag;
  }
  get authenticator(): Uint8Array | undefined {
    return this.auth;
  }
  private send(type: EapolType, body?: Uint8Array): void {
    // Group address: works through bridges and is what wpa_supplicant's wired driver uses.
    this.out.frames.push(encodeEapolFrame(PAE_GROUP_ADDRESS, this.config.ownMac, this.version, type, body));
  }
  private sendStart(now: number): void {
    this.starts++;
    this.send(EapolType.Start);
    this.timer = { kind: 'start', at: now + (this.config.startPeriodMs ?? 30000) };
  }
  private abortMethod(): void {
    if (this.active !== undefined) this.out.actions.push({ type: 'method-abort', session: this.active });
    this.active = undefined;
    this.inFlight = false;
  }
  private authTimer(now: number): void {
    this.timer = { kind: 'auth', at: now + (this.config.authPeriodMs ?? 30000) };
  }

  /** Port up / administrative start: send EAPOL-Start. */
  start(now: number): PaeOutput<SupplicantAction> {
    this.begin();
    this.st = 'connecting';
    this.starts = 0;
    this.sendStart(now);
    return this.end();
  }

  /** Administrative logoff: EAPOL-Logoff, drop keys. */
  logoff(_now: number): PaeOutput<SupplicantAction> {
    this.begin();
    this.abortMethod();
    this.send(EapolType.Logoff);
    if (this.authenticatedFlag) this.out.actions.push({ type: 'unauthenticated', reason: 'logoff' });
    this.authenticatedFlag = false;
    this.st = 'logoff';
    this.timer = undefined;
    return this.end();
  }

  protected onFrame(frame: Uint8Array, now: number): void {
    if (this.st === 'disabled' || this.st === 'logoff') return;
    const f = this.decodeOwnFrame(frame);
    if (!f) return;
    const { src, pdu } = f;
    if (pdu.type !== EapolType.EapPacket) return;
    const e = decodeEap(pdu.body);
    if (!e.ok) {
      this.log('debug', 'ignored malformed EAP packet', { error: formatDecodeError(e.error) });
      return;
    }
    const p = e.value;
    if (this.st === 'held') return;
    if (this.auth && !bytesEqual(src, this.auth) && this.st === 'authenticating') {
      this.log('warn', 'EAP from a second authenticator ignored', { from: macToString(src) });
      return;
    }
    if (p.code === EapCode.Request) {
      // Retransmission by the authenticator: repeat our response.
      if (this.lastReq && this.lastResp && bytesEqual(this.lastReq, pdu.body)) {
        this.send(EapolType.EapPacket, this.lastResp);
        return;
      }
      if (p.type === EapType.Identity) {
        this.auth = Uint8Array.from(src);
        this.abortMethod();
        this.active = ++this.session;
        if (this.st !== 'authenticated') this.st = 'authenticating';
        this.lastReq = Uint8Array.from(pdu.body);
        this.lastResp = encodeIdentityResponse(p.id, this.config.identity);
        this.send(EapolType.EapPacket, this.lastResp);
        this.authTimer(now);
        this.log('info', 'EAP-Request/Identity answered', { authenticator: macToString(src) });
        return;
      }
      if (p.type === EapType.Notification) return;
      if (this.active === undefined) {
        // Method request without a preceding Identity exchange (allowed by RFC 3748).
        this.auth = Uint8Array.from(src);
        this.active = ++this.session;
        this.st = this.st === 'authenticated' ? 'authenticated' : 'authenticating';
      }
      if (this.inFlight) return;
      this.inFlight = true;
      this.lastReq = Uint8Array.from(pdu.body);
      this.authTimer(now);
      this.out.actions.push({ type: 'method-eap', session: this.active, eap: Uint8Array.from(pdu.body) });
      return;
    }
    if (p.code === EapCode.Success || p.code === EapCode.Failure) {
      if (this.active === undefined) {
        if (p.code === EapCode.Failure && this.st === 'authenticating') this.toHeld(now, 'EAP-Failure');
        return;
      }
      if (this.inFlight) return;
      this.inFlight = true;
      this.out.actions.push({ type: 'method-eap', session: this.active, eap: Uint8Array.from(pdu.body) });
    }
  }

  private toHeld(now: number, reason: string): void {
    this.abortMethod();
    if (this.authenticatedFlag || this.st === 'authenticating') this.out.actions.push({ type: 'unauthenticated', reason });
    this.log('warn', 'authentication failed', { reason });
    this.authenticatedFlag = false;
    this.st = 'held';
    this.lastReq = undefined;
    this.lastResp = undefined;
    this.timer = { kind: 'held', at: now + (this.config.heldPeriodMs ?? 60000) };
  }

  methodStep(session: number, step: PeerStep, now: number): PaeOutput<SupplicantAction> {
    this.begin();
    if (session !== this.active) return this.end();
    this.inFlight = false;
    switch (step.kind) {
      case 'response':
        this.lastResp = step.eap;
        this.send(EapolType.EapPacket, step.eap);
        this.authTimer(now);
        break;
      case 'discard':
        this.log('debug', 'method discarded a packet', { reason: step.reason });
        break;
      case 'failure':
        this.toHeld(now, step.reason);
        break;
      case 'success': {
        const authMac = this.auth!;
        const { cak, ckn } = deriveMkaKeysFromEap(step.keys.msk, step.keys.sessionId, this.config.ownMac, authMac);
        this.active = undefined;
        this.authenticatedFlag = true;
        this.st = 'authenticated';
        this.timer = undefined;
        this.lastReq = undefined;
        this.lastResp = undefined;
        this.log('info', 'authenticated', { authenticator: macToString(authMac), tls: step.tlsVersion });
        this.out.actions.push({
          type: 'authenticated',
          authenticator: authMac,
          msk: step.keys.msk,
          ...(step.keys.emsk ? { emsk: step.keys.emsk } : {}),
          sessionId: step.keys.sessionId,
          cak,
          ckn,
        });
        break;
      }
    }
    return this.end();
  }

  tick(now: number): PaeOutput<SupplicantAction> {
    this.begin();
    const kind = this.takeDueTimer(now);
    if (kind === undefined) return this.end();
    if (kind === 'start') {
      if (this.st === 'connecting') {
        this.log(this.starts >= 3 ? 'warn' : 'debug', 'no authenticator answered EAPOL-Start, retrying', { starts: this.starts });
        this.sendStart(now);
      }
    } else if (kind === 'auth') {
      this.log('warn', 'authenticator went silent, restarting', {});
      this.abortMethod();
      this.lastReq = undefined;
      this.lastResp = undefined;
      if (this.st === 'authenticating') this.st = 'connecting';
      this.sendStart(now);
    } else {
      this.st = 'connecting';
      this.starts = 0;
      this.sendStart(now);
    }
    return this.end();
  }
}
