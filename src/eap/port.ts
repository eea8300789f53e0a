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

/** A port's EAP exchanges (backend sessions, peer methods) by PAE session number. */
class Exchanges<T extends { close(): void }> extends Map<number, T> {
  /** The exchange of `session`, made by `create` when there is none. */
  ensure(session: number, create: () => T): T {
    let x = this.get(session);
    if (!x) {
      x = create();
      this.set(session, x);
    }
    return x;
  }

  /** Closes and forgets the exchange of `session`, if any. */
  abort(session: number): void {
    this.get(session)?.close();
    this.delete(session);
  }

  closeAll(): void {
    for (const x of this.values()) x.close();
    this.clear();
  }
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
    this.unlessStopped((now) => this.pae.receive(frame, now));
  }

  /** Applies what `step` makes the PAE do now, unless the port has stopped. */
  protected unlessStopped(step: (now: number) => PaeOutput<A>): void {
    if (!this.stopped) this.apply(step(this.now()));
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
  private readonly sessions = new Exchanges<EapBackendSession>();

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
    this.sessions.closeAll();
  }

  /** Re-authenticates the supplicant now (AuthenticatorPae.reauthenticate). */
  reauthenticate(reason: string): void {
    this.unlessStopped((now) => this.pae.reauthenticate(now, reason));
  }

  protected handle(a: AuthenticatorAction): void {
    switch (a.type) {
      case 'backend-eap': {
        const sess = this.sessions.ensure(a.session, () =>
          this.opts.backend.createSession({
            supplicantMac: a.peer,
            authenticatorMac: this.opts.portMac,
            ...(this.opts.portName ? { portName: this.opts.portName } : {}),
          }),
        );
        sess.handle(a.eap).then(
          (step) => {
            if (step.kind === 'success' || step.kind === 'failure') {
              sess.close();
              this.sessions.delete(a.session);
            }
            this.unlessStopped((now) => this.pae.backendStep(a.session, step, now));
          },
          (e: Error) => this.unlessStopped((now) => this.pae.backendStep(a.session, { kind: 'failure', reason: `backend error: ${e.message}` }, now)),
        );
        break;
      }
      case 'backend-abort':
        this.sessions.abort(a.session);
        break;
      case 'authorized':
      case 'unauthorized':
        this.emit(a.type, a);
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
  private readonly methods = new Exchanges<EapPeerMethod>();

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
    this.methods.closeAll();
  }

  protected handle(a: SupplicantAction): void {
    switch (a.type) {
      case 'method-eap': {
        const meth = this.methods.ensure(a.session, () => this.opts.method());
        meth.handle(a.eap).then(
          (step) => {
            if (step.kind === 'success' || step.kind === 'failure') this.methods.delete(a.session);
            this.unlessStopped((now) => this.pae.methodStep(a.session, step, now));
          },
          (e: Error) => this.unlessStopped((now) => this.pae.methodStep(a.session, { kind: 'failure', reason: e.message }, now)),
        );
        break;
      }
      case 'method-abort':
        this.methods.abort(a.session);
        break;
      case 'authenticated':
      case 'unauthenticated':
        this.emit(a.type, a);
        break;
    }
  }
}
