/**
 * I/O glue: runs an AuthenticatorPae / SupplicantPae with real timers, an EAP backend or peer
 * method, and a frame sender. The frame transport (pcap, AF_PACKET, in-memory) is the caller's.
 */
import { EventEmitter } from 'node:events';
import type { EapBackend, EapBackendSession } from './backend.js';
import { type EapLogger, nullLogger } from './decode.js';
import { type AuthenticatorAction, AuthenticatorPae, type AuthenticatorPaeConfig } from './authenticator-pae.js';
import type { PaeOutput } from './pae-base.js';
import { type SupplicantAction, SupplicantPae, type SupplicantPaeConfig } from './supplicant-pae.js';
import type { EapPeerMethod } from './eaptls-peer.js';

export type FrameSender = (frame: Uint8Array) => void;

export type AuthorizedEvent = Extract<AuthenticatorAction, { type: 'authorized' }>;
export type UnauthorizedEvent = Extract<AuthenticatorAction, { type: 'unauthorized' }>;
export type AuthenticatedEvent = Extract<SupplicantAction, { type: 'authenticated' }>;
export type UnauthenticatedEvent = Extract<SupplicantAction, { type: 'unauthenticated' }>;

function logActions(logger: EapLogger, actions: readonly { type: string }[]): void {
  for (const a of actions) {
    if (a.type === 'log') {
      const l = a as Extract<AuthenticatorAction, { type: 'log' }>;
      logger(l.level, l.msg, l.fields);
    }
  }
}

export interface AuthenticatorPortOptions extends AuthenticatorPaeConfig {
  readonly backend: EapBackend;
  readonly send: FrameSender;
  readonly portName?: string;
  readonly logger?: EapLogger;
  readonly now?: () => number;
}

/** What a port needs of its PAE: a receive entry, a timer deadline and its tick. */
interface TimedPae<A> {
  receive(frame: Uint8Array, now: number): PaeOutput<A>;
  nextTimeout(): number | undefined;
  tick(now: number): PaeOutput<A>;
}

interface PortIo {
  readonly send: FrameSender;
  readonly logger?: EapLogger;
  readonly now?: () => number;
}

/**
 * What both ports share: the PAE's one timer, the stopped flag, frame sending and the logging of
 * log actions. A subclass handles its PAE's other actions in `handle`.
 */
abstract class PaePort<A extends { type: string }, P extends TimedPae<A>> extends EventEmitter {
  private timer: NodeJS.Timeout | undefined;
  protected readonly log: EapLogger;
  protected readonly now: () => number;
  protected stopped = false;

  constructor(
    readonly pae: P,
    private readonly io: PortIo,
  ) {
    super();
    this.log = io.logger ?? nullLogger;
    this.now = io.now ?? Date.now;
  }

  /** Feeds a received Ethernet frame (ethertype 0x888e). */
  receive(frame: Uint8Array): void {
    if (this.stopped) return;
    this.apply(this.pae.receive(frame, this.now()));
  }

  /** Marks the port stopped and cancels its timer. */
  protected halt(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  protected abstract handle(action: A): void;

  protected apply(out: PaeOutput<A>): void {
    for (const f of out.frames) {
      try {
        this.io.send(f);
      } catch (e) {
        this.log('error', 'EAPOL send failed', { error: (e as Error).message });
      }
    }
    logActions(this.log, out.actions);
    for (const a of out.actions) this.handle(a);
    this.schedule();
  }

  private schedule(): void {
    clearTimeout(this.timer);
    const at = this.pae.nextTimeout();
    if (at === undefined || this.stopped) return;
    this.timer = setTimeout(() => this.apply(this.pae.tick(this.now())), Math.max(0, at - this.now()));
    this.timer.unref?.();
  }
}

/**
 * Events: 'authorized' (AuthorizedEvent: peer, msk, sessionId, cak, ckn), 'unauthorized'
 * (UnauthorizedEvent: reason).
 */
export class AuthenticatorPort extends PaePort<AuthenticatorAction, AuthenticatorPae> {
  private readonly sessions = new Map<number, EapBackendSession>();

  constructor(readonly opts: AuthenticatorPortOptions) {
    super(new AuthenticatorPae(opts), opts);
  }

  start(): void {
    this.stopped = false;
    this.apply(this.pae.portUp(this.now()));
  }

  stop(): void {
    this.apply(this.pae.portDown(this.now()));
    this.halt();
    for (const s of this.sessions.values()) s.close();
    this.sessions.clear();
  }

  /** Re-authenticates the supplicant now (AuthenticatorPae.reauthenticate). */
  reauthenticate(reason: string): void {
    if (this.stopped) return;
    this.apply(this.pae.reauthenticate(this.now(), reason));
  }

  protected handle(a: AuthenticatorAction): void {
    switch (a.type) {
      case 'backend-eap': {
        let s = this.sessions.get(a.session);
        if (!s) {
          s = this.opts.backend.createSession({
            supplicantMac: a.peer,
            authenticatorMac: this.opts.portMac,
            ...(this.opts.portName ? { portName: this.opts.portName } : {}),
          });
          this.sessions.set(a.session, s);
        }
        const sess = s;
        sess.handle(a.eap).then(
          (step) => {
            if (step.kind === 'success' || step.kind === 'failure') {
              sess.close();
              this.sessions.delete(a.session);
            }
            if (!this.stopped) this.apply(this.pae.backendStep(a.session, step, this.now()));
          },
          (e: Error) => {
            if (!this.stopped) this.apply(this.pae.backendStep(a.session, { kind: 'failure', reason: `backend error: ${e.message}` }, this.now()));
          },
        );
        break;
      }
      case 'backend-abort':
        this.sessions.get(a.session)?.close();
        this.sessions.delete(a.session);
        break;
      case 'authorized':
        this.emit('authorized', a);
        break;
      case 'unauthorized':
        this.emit('unauthorized', a);
        break;
    }
  }
}

export interface SupplicantPortOptions extends SupplicantPaeConfig {
  /** Creates a fresh EAP method (e.g. `() => new EapTlsPeer(cfg)`) per authentication. */
  readonly method: () => EapPeerMethod;
  readonly send: FrameSender;
  readonly logger?: EapLogger;
  readonly now?: () => number;
}

/** Events: 'authenticated' (AuthenticatedEvent), 'unauthenticated' (UnauthenticatedEvent). */
export class SupplicantPort extends PaePort<SupplicantAction, SupplicantPae> {
  private readonly methods = new Map<number, EapPeerMethod>();

  constructor(readonly opts: SupplicantPortOptions) {
    super(new SupplicantPae(opts), opts);
  }

  start(): void {
    this.stopped = false;
    this.apply(this.pae.start(this.now()));
  }

  logoff(): void {
    this.apply(this.pae.logoff(this.now()));
  }

  stop(): void {
    this.halt();
    for (const m of this.methods.values()) m.close();
    this.methods.clear();
  }

  protected handle(a: SupplicantAction): void {
    switch (a.type) {
      case 'method-eap': {
        let m = this.methods.get(a.session);
        if (!m) {
          m = this.opts.method();
          this.methods.set(a.session, m);
        }
        const meth = m;
        meth.handle(a.eap).then(
          (step) => {
            if (step.kind === 'success' || step.kind === 'failure') this.methods.delete(a.session);
            if (!this.stopped) this.apply(this.pae.methodStep(a.session, step, this.now()));
          },
          (e: Error) => {
            if (!this.stopped) this.apply(this.pae.methodStep(a.session, { kind: 'failure', reason: e.message }, this.now()));
          },
        );
        break;
      }
      case 'method-abort':
        this.methods.get(a.session)?.close();
        this.methods.delete(a.session);
        break;
      case 'authenticated':
        this.emit('authenticated', a);
        break;
      case 'unauthenticated':
        this.emit('unauthenticated', a);
        break;
    }
  }
}
