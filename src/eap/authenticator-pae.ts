/**
 * Authenticator PAE for one port (IEEE 802.1X-2010 clause 8 / 12, simplified): a pure object.
 * Frames and time go in; frames, backend calls and authorization actions come out. No I/O,
 * no timers: the caller calls tick(now) at nextTimeout().
 */
import type { BackendStep } from './backend.js';
import { formatDecodeError } from './decode.js';
import { EapCode, EapType, decodeEap, eapIdentityText, encodeEap, encodeIdentityRequest } from './eap.js';
import { EapolType, PAE_GROUP_ADDRESS, encodeEapolFrame } from './eapol.js';
import { PaeBase, type PaeLogAction, type PaeOutput } from './pae-base.js';
import { deriveMkaKeysFromEap } from './keys.js';
import { bytesEqual, macToString } from '../common/hex.js';

export interface AuthenticatorPaeConfig {
  /** MAC address of this port: source of our EAPOL frames, one of the two CAK/CKN MACs. */
  readonly portMac: Uint8Array;
  /** EAPOL protocol version written in our frames (default 3; we accept 1..3 and above). */
  readonly eapolVersion?: number;
  /** Send to the PAE group address (default) or to the supplicant's unicast address once known. */
  readonly destination?: 'group' | 'unicast';
  /** Period of unsolicited EAP-Request/Identity while no supplicant is bound (txPeriod, default 30 s). */
  readonly txPeriodMs?: number;
  /** EAP-Request retransmission timeout (default 3 s). */
  readonly retransTimeoutMs?: number;
  /** Retransmissions of one EAP-Request before giving up (default 4). */
  readonly maxRetrans?: number;
  /** Time the backend may take per step (serverTimeout, default 30 s). */
  readonly serverTimeoutMs?: number;
  /** Hold-off after a failed authentication (quietPeriod, default 60 s). */
  readonly quietPeriodMs?: number;
  /** Re-authentication period (default 3600 s); 0 disables. */
  readonly reAuthPeriodMs?: number;
}

export type AuthenticatorAction =
  /** Hand `eap` to backend session `session`; create the session first if it is new. */
  | { readonly type: 'backend-eap'; readonly session: number; readonly peer: Uint8Array; readonly eap: Uint8Array }
  /** Close backend session `session` (superseded, timed out or logged off). */
  | { readonly type: 'backend-abort'; readonly session: number }
  /**
   * The supplicant is authenticated. `msk`/`sessionId` are the EAP keys; `cak`/`ckn` were derived
   * from them as wpa_supplicant does (802.1X-2010 6.2.2). Secrets: never log.
   */
  | {
      readonly type: 'authorized';
      readonly peer: Uint8Array;
      readonly identity?: string;
      readonly msk: Uint8Array;
      readonly emsk?: Uint8Array;
      readonly sessionId: Uint8Array;
      readonly cak: Uint8Array;
      readonly ckn: Uint8Array;
      readonly reauthentication: boolean;
    }
  /** The port is (or stays) unauthorized; `peer` is the supplicant concerned, if any. */
  | { readonly type: 'unauthorized'; readonly peer?: Uint8Array; readonly reason: string }
  | PaeLogAction;

export type AuthenticatorState = 'disabled' | 'connecting' | 'authenticating' | 'authenticated' | 'held';
type TimerKind = 'tx' | 'retrans' | 'server' | 'quiet' | 'reauth';

export class AuthenticatorPae extends PaeBase<AuthenticatorState, AuthenticatorAction, TimerKind> {
  protected st: AuthenticatorState = 'disabled';
  private supp: Uint8Array | undefined;
  private authorizedFlag = false;
  private session = 0;
  private activeSession: number | undefined;
  private awaiting: 'supplicant' | 'backend' | undefined;
  private reqId = Math.floor(Math.random() * 256);
  private lastReqFrame: Uint8Array | undefined;
  private lastReqId = -1;
  private lastReqIsIdentity = false;
  private retrans = 0;
  private identity: string | undefined;

  constructor(readonly config: AuthenticatorPaeConfig) {
    super(config.portMac, 'portMac', config.eapolVersion);
  }

  get authorized(): boolean {
    return this.authorizedFlag;
  }
  get supplicant(): Uint8Array | undefined {
    return this.supp;
  }
  private setTimer(kind: TimerKind, now: number, ms: number): void {
    this.timer = { kind, at: now + ms };
  }
  private dest(): Uint8Array {
    return this.config.destination === 'unicast' && this.supp ? this.supp : PAE_GROUP_ADDRESS;
  }
  private sendEap(eap: Uint8Array): Uint8Array {
    const f = encodeEapolFrame(this.dest(), this.config.portMac, this.version, EapolType.EapPacket, eap);
    this.out.frames.push(f);
    return f;
  }

  private sendIdentityRequest(now: number): void {
    this.reqId = (this.reqId + 1) & 0xff;
    this.lastReqId = this.reqId;
    this.lastReqIsIdentity = true;
    this.lastReqFrame = this.sendEap(encodeIdentityRequest(this.reqId));
    this.retrans = 0;
    this.awaiting = 'supplicant';
    if (this.supp) this.setTimer('retrans', now, this.config.retransTimeoutMs ?? 3000);
    else this.setTimer('tx', now, this.config.txPeriodMs ?? 30000);
  }

  private abortBackend(): void {
    if (this.activeSession !== undefined) this.out.actions.push({ type: 'backend-abort', session: this.activeSession });
    this.activeSession = undefined;
  }

  private deauthorize(reason: string): void {
    const peer = this.supp;
    this.authorizedFlag = false;
    this.out.actions.push(peer ? { type: 'unauthorized', peer, reason } : { type: 'unauthorized', reason });
    this.log('warn', 'port unauthorized', { peer: peer ? macToString(peer) : undefined, reason });
  }

  private toConnecting(now: number, unbind: boolean): void {
    if (unbind) {
      this.supp = undefined;
      this.identity = undefined;
    }
    this.st = 'connecting';
    this.sendIdentityRequest(now);
  }

  private toHeld(now: number, reason: string, failureEap?: Uint8Array): void {
    this.abortBackend();
    this.sendEap(failureEap ?? encodeEap({ code: EapCode.Failure, id: this.lastReqId & 0xff }));
    this.deauthorize(reason);
    this.st = 'held';
    this.awaiting = undefined;
    this.setTimer('quiet', now, this.config.quietPeriodMs ?? 60000);
  }

  /** The port became operational: start soliciting supplicants. */
  portUp(now: number): PaeOutput<AuthenticatorAction> {
    this.begin();
    if (this.st === 'disabled') this.toConnecting(now, true);
    return this.end();
  }

  /** The port went down: drop the supplicant and authorization. */
  portDown(_now: number): PaeOutput<AuthenticatorAction> {
    this.begin();
    this.abortBackend();
    if (this.authorizedFlag) this.deauthorize('port down');
    this.st = 'disabled';
    this.supp = undefined;
    this.timer = undefined;
    this.awaiting = undefined;
    return this.end();
  }

  protected onFrame(frame: Uint8Array, now: number): void {
    const f = this.decodeOwnFrame(frame);
    if (!f) return;
    const { src, pdu } = f;
    if (this.st === 'disabled') return;
    const from = macToString(src);
    const bound = this.supp !== undefined;
    const fromBound = bound && bytesEqual(src, this.supp!);
    if (pdu.type !== EapolType.EapPacket && pdu.type !== EapolType.Start && pdu.type !== EapolType.Logoff) return;
    if (this.st === 'held') {
      this.log('debug', 'frame ignored during the quiet period', { from });
      return;
    }
    if (bound && !fromBound && (this.st === 'authenticating' || this.st === 'authenticated')) {
      this.log('warn', 'second supplicant on the port ignored', { from, bound: macToString(this.supp!) });
      return;
    }
    if (pdu.type === EapolType.Start) {
      this.log('info', 'EAPOL-Start', { from, version: pdu.version });
      this.abortBackend();
      this.supp = Uint8Array.from(src);
      if (this.st !== 'authenticated') this.st = 'connecting';
      this.sendIdentityRequest(now);
      return;
    }
    if (pdu.type === EapolType.Logoff) {
      if (!fromBound) return;
      this.log('info', 'EAPOL-Logoff', { from });
      this.abortBackend();
      if (this.authorizedFlag) this.deauthorize('EAPOL-Logoff');
      this.toConnecting(now, true);
      return;
    }
    const e = decodeEap(pdu.body);
    if (!e.ok) {
      this.log('debug', 'ignored malformed EAP packet', { from, error: formatDecodeError(e.error) });
      return;
    }
    const p = e.value;
    if (p.code !== EapCode.Response) return;
    if (this.awaiting !== 'supplicant' || p.id !== this.lastReqId) {
      this.log('debug', 'unexpected EAP-Response ignored', { from, id: p.id, expected: this.lastReqId });
      return;
    }
    if (this.lastReqIsIdentity) {
      if (p.type !== EapType.Identity) return;
      if (!bound) this.supp = Uint8Array.from(src);
      this.identity = eapIdentityText(p);
      this.abortBackend();
      this.activeSession = ++this.session;
      if (this.st !== 'authenticated') this.st = 'authenticating';
      this.log('info', 'EAP-Response/Identity', { from, identity: this.identity });
    }
    this.awaiting = 'backend';
    this.setTimer('server', now, this.config.serverTimeoutMs ?? 30000);
    this.out.actions.push({ type: 'backend-eap', session: this.activeSession!, peer: this.supp!, eap: Uint8Array.from(pdu.body) });
  }

  /** Result of a backend session. Steps for superseded sessions are ignored. */
  backendStep(session: number, step: BackendStep, now: number): PaeOutput<AuthenticatorAction> {
    this.begin();
    if (session !== this.activeSession || this.awaiting !== 'backend') return this.end();
    switch (step.kind) {
      case 'request': {
        const d = decodeEap(step.eap);
        if (!d.ok || d.value.code !== EapCode.Request) {
          this.toHeld(now, 'backend produced an invalid EAP-Request');
          break;
        }
        this.lastReqId = d.value.id;
        this.lastReqIsIdentity = false;
        this.lastReqFrame = this.sendEap(step.eap);
        this.retrans = 0;
        this.awaiting = 'supplicant';
        this.setTimer('retrans', now, this.config.retransTimeoutMs ?? 3000);
        break;
      }
      case 'discard':
        this.log('debug', 'backend discarded the response', { reason: step.reason });
        this.awaiting = 'supplicant';
        this.setTimer('retrans', now, this.config.retransTimeoutMs ?? 3000);
        break;
      case 'failure':
        this.activeSession = undefined;
        this.toHeld(now, step.reason, step.eap);
        break;
      case 'success': {
        const peer = this.supp!;
        if (step.keys.msk.length < 16) {
          this.toHeld(now, 'backend returned an MSK shorter than 16 octets');
          break;
        }
        if (step.keys.sessionId.length === 0) {
          this.toHeld(now, 'backend returned no EAP Session-Id; cannot derive the CKN');
          break;
        }
        this.activeSession = undefined;
        this.sendEap(step.eap);
        const { cak, ckn } = deriveMkaKeysFromEap(step.keys.msk, step.keys.sessionId, this.config.portMac, peer);
        const reauthentication = this.authorizedFlag;
        this.authorizedFlag = true;
        this.st = 'authenticated';
        this.awaiting = undefined;
        const period = this.config.reAuthPeriodMs ?? 3_600_000;
        this.timer = period > 0 ? { kind: 'reauth', at: now + period } : undefined;
        const identity = step.identity ?? this.identity;
        this.log('info', 'port authorized', { peer: macToString(peer), identity, reauthentication });
        this.out.actions.push({
          type: 'authorized',
          peer,
          ...(identity !== undefined ? { identity } : {}),
          msk: step.keys.msk,
          ...(step.keys.emsk ? { emsk: step.keys.emsk } : {}),
          sessionId: step.keys.sessionId,
          cak,
          ckn,
          reauthentication,
        });
        break;
      }
    }
    return this.end();
  }

  /**
   * Starts a re-authentication now, as when the period expires (the port stays authorized while
   * it runs). Only while authenticated and no exchange is under way; otherwise nothing happens.
   * The port uses it when MKA finds no live peer after an authentication (docs/eap.md).
   */
  reauthenticate(now: number, reason: string): PaeOutput<AuthenticatorAction> {
    if (this.st === 'authenticated' && (this.timer === undefined || this.timer.kind === 'reauth')) {
      this.log('info', 're-authentication', { peer: this.supp ? macToString(this.supp) : undefined, reason });
      this.sendIdentityRequest(now);
    }
    return this.end();
  }

  tick(now: number): PaeOutput<AuthenticatorAction> {
    this.begin();
    switch (this.takeDueTimer(now)) {
      case 'tx':
        this.sendIdentityRequest(now);
        break;
      case 'retrans':
        if (this.retrans < (this.config.maxRetrans ?? 4) && this.lastReqFrame) {
          this.retrans++;
          this.out.frames.push(this.lastReqFrame);
          this.log('debug', 'EAP-Request retransmitted', { id: this.lastReqId, attempt: this.retrans });
          this.setTimer('retrans', now, this.config.retransTimeoutMs ?? 3000);
        } else {
          this.log('warn', 'supplicant stopped responding', { peer: this.supp ? macToString(this.supp) : undefined });
          this.abortBackend();
          if (this.authorizedFlag) this.deauthorize('supplicant stopped responding');
          this.toConnecting(now, true);
        }
        break;
      case 'server':
        this.toHeld(now, 'EAP backend timed out');
        break;
      case 'quiet':
        this.toConnecting(now, true);
        break;
      case 'reauth':
        this.log('info', 're-authentication', { peer: this.supp ? macToString(this.supp) : undefined });
        this.sendIdentityRequest(now);
        break;
    }
    return this.end();
  }
}
