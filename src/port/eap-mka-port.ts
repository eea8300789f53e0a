/**
 * EapMkaPort: 802.1X authentication driving MKA on one port.
 *
 * One shared FrameLink (EapolLink on the parent interface) is demultiplexed (EapolDemux):
 * EAP-Packet/Start/Logoff go to the PAE (AuthenticatorPort or SupplicantPort from src/eap),
 * EAPOL-MKA to the KaY of the current session. On `authorized` (authenticator) or
 * `authenticated` (supplicant) a KaY is started with the EAP-derived CAK/CKN and driven by
 * KayDriver against a SessionSecy view of the port's SecY; the event's MSK/EMSK/CAK buffers are
 * zeroed once the KaY holds its own copy (the KaY zeroes that copy when it stops). It emits
 * `change` on every transition, `mka` with each KaY event and `sessionStopped` when a session
 * ends; startPort (start.ts) turns those into the port's one event stream.
 *
 * - unauthorized / logoff / re-authentication failure: the KaY leaves (deletes its SAs and SCs),
 *   then the SessionSecy sweeps whatever the kernel still reports and disables the controlled
 *   port: no macsec SA remains.
 * - re-authentication success with a new CAK (EAP-TLS always yields a new MSK, so a new CAK and
 *   CKN) from the same peer: the new CAK joins the running KaY as a second participant
 *   (Kay.addCak, replace) that takes over without a gap once the peer receives its SAK; the old
 *   CA leaves after the handover, or stays while the peer still uses only it (wpa_supplicant 2.10
 *   often fails to bring up its new participant, see below). A different peer, or a KaY that
 *   cannot add CAs: the KaY restarts with the new CAK (break before make). See docs/eap.md.
 *
 * - MKA recovery (authenticator): a session that is not secured `mkaRecoveryMs` after it started
 *   (or after it lost security) makes the authenticator re-authenticate the supplicant, so both
 *   ends start over with a new CAK. wpa_supplicant 2.10 needs this: at re-authentication it
 *   creates its new participant while the old one still holds the RX SC for our SCI, fails to
 *   create it ("Can't create SC, discard peer"), deletes the new participant after the MKA life
 *   time and is left with only the old CAK until the next EAP exchange. Consecutive recoveries
 *   back off (x2, at most 5 min); securing resets them.
 *
 * Transitions are serialized on one promise chain, so a stop never races a start. Logs carry
 * state changes and reasons, never keys.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../common/log.js';
import type { EapBackend } from '../eap/backend.js';
import type { EapLogger } from '../eap/decode.js';
import type { EapPeerMethod } from '../eap/eaptls-peer.js';
import type { AuthenticatorPaeConfig } from '../eap/authenticator-pae.js';
import type { SupplicantPaeConfig } from '../eap/supplicant-pae.js';
import {
  AuthenticatorPort,
  SupplicantPort,
  type AuthenticatedEvent,
  type AuthorizedEvent,
  type UnauthenticatedEvent,
  type UnauthorizedEvent,
} from '../eap/port.js';
import type { KayConfig, KayCounters, KayEvent, KayStatus } from '../mka/kay-types.js';
import { macToString, toHex } from '../common/hex.js';
import type { MacFrameLink } from '../link/link.js';
import { defaultKayFactory, driveKay, type DriverEvent, type KayDriver, type KayFactory, type KayLike } from './driver.js';
import { EapolDemux, type EapolDemuxCounters } from './eapol-demux.js';
import { SessionSecy, sweepSecy, type SweepableSecy } from './session-secy.js';

export type EapRole = 'authenticator' | 'supplicant';

/** KaY settings that do not come from EAP (the CAK/CKN do; the SCI is the link's MAC and `sciPort`). */
export type SessionKaySettings = Omit<KayConfig, 'sci' | 'primary' | 'fallback'>;

export interface EapMkaPortOptions {
  name: string;
  /** Shared EAPOL link of the port (parent interface). Closed by stop(). */
  link: MacFrameLink;
  /** The port's SecY (macsec link). Not closed by stop(); the caller owns it. */
  secy: SweepableSecy;
  role: EapRole;
  /** Authenticator role. */
  authenticator?: { backend: EapBackend; pae?: Omit<AuthenticatorPaeConfig, 'portMac'> };
  /** Supplicant role. */
  supplicant?: { method: () => EapPeerMethod; pae: Omit<SupplicantPaeConfig, 'ownMac'> };
  mka: SessionKaySettings;
  /** Port identifier of the SCI (the same as the macsec link's; default 1). */
  sciPort?: number;
  log: Logger;
  /** For tests: build the KaY (default `new Kay(cfg)`). */
  kayFactory?: KayFactory;
  /** Monotonic clock for the KaY driver. */
  clock?: () => number;
  /**
   * Authenticator: re-authenticate when MKA has not secured the port this long after a session
   * started or lost security (default 15 000 ms, > 2 MKA life times; 0: never).
   */
  mkaRecoveryMs?: number;
}

export interface EapMkaPortStatus {
  name: string;
  role: EapRole;
  /** PAE state (authenticator: disabled/connecting/authenticating/authenticated/held). */
  paeState: string;
  authorized: boolean;
  /** Peer PAE (supplicant or authenticator) MAC, when known. */
  peer: string | null;
  identity: string | null;
  /** CKN of the running MKA session (public: it is in every MKPDU). */
  ckn: string | null;
  /** Why the port is (or last was) unauthorized. */
  lastReason: string | null;
  authentications: number;
  reauthentications: number;
  failures: number;
  kayStarts: number;
  /** New CAKs added to a running MKA session by re-authentication (make before break). */
  cakChanges: number;
  /** Re-authentications the authenticator started because MKA did not secure the port. */
  mkaRecoveries: number;
  kay: KayStatus | null;
  mkaEvents: Record<string, number>;
  demux: EapolDemuxCounters;
}

interface Session {
  driver: KayDriver;
  kay: KayLike;
  /** CKN the session started with. */
  ckn: string;
}

export class EapMkaPort extends EventEmitter {
  private readonly demux: EapolDemux;
  private readonly auth: AuthenticatorPort | undefined;
  private readonly supp: SupplicantPort | undefined;
  private readonly log: Logger;
  private session: Session | undefined;
  /** Peer PAE the running session was started for. */
  private sessionPeer: string | null = null;
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly st = {
    authorized: false,
    peer: null as string | null,
    identity: null as string | null,
    lastReason: null as string | null,
    authentications: 0,
    reauthentications: 0,
    failures: 0,
    kayStarts: 0,
    mkaRecoveries: 0,
  };
  private recovery: NodeJS.Timeout | undefined;
  /** Recoveries in a row without the port getting secured (the backoff exponent). */
  private recoveriesInARow = 0;
  private readonly mkaEvents: Record<string, number> = {};
  private cakChanges = 0;

  constructor(private readonly opts: EapMkaPortOptions) {
    super();
    this.log = opts.log;
    this.demux = new EapolDemux(opts.link);
    const eapLog: EapLogger = (level, msg, fields) => this.log[level](`eap: ${msg}`, fields);
    const send = (f: Uint8Array) => this.demux.sendPae(f);
    if (opts.role === 'authenticator') {
      if (!opts.authenticator) throw new Error('authenticator role needs a backend');
      this.auth = new AuthenticatorPort({
        ...opts.authenticator.pae,
        portMac: opts.link.mac,
        backend: opts.authenticator.backend,
        send,
        portName: opts.name,
        logger: eapLog,
      });
      this.auth.on('authorized', (a: AuthorizedEvent) => this.onAuthorized(a));
      this.auth.on('unauthorized', (u: UnauthorizedEvent) => this.onUnauthorized(u.reason, u.peer));
      this.demux.onPaeFrame((f) => this.auth!.receive(f));
    } else {
      if (!opts.supplicant) throw new Error('supplicant role needs an EAP method');
      this.supp = new SupplicantPort({ ...opts.supplicant.pae, ownMac: opts.link.mac, method: opts.supplicant.method, send, logger: eapLog });
      this.supp.on('authenticated', (a: AuthenticatedEvent) => this.onAuthenticated(a));
      this.supp.on('unauthenticated', (u: UnauthenticatedEvent) => this.onUnauthorized(u.reason));
      this.demux.onPaeFrame((f) => this.supp!.receive(f));
    }
  }

  get name(): string {
    return this.opts.name;
  }
  get role(): EapRole {
    return this.opts.role;
  }

  /** Makes sure the SecY holds no SA (left over by a previous run), then starts the PAE. */
  async start(): Promise<void> {
    const swept = await sweepSecy(this.opts.secy);
    if (swept.txSas + swept.rxSas + swept.rxScs > 0) this.log.warn('removed SAs left on the macsec link', { ...swept });
    this.log.info('port unauthorized: waiting for 802.1X authentication', { role: this.opts.role, mac: macToString(this.opts.link.mac) });
    if (this.auth) this.auth.start();
    else this.supp!.start();
    this.emit('change');
  }

  /** Supplicant: EAPOL-Logoff (the port becomes unauthorized). */
  logoff(): void {
    this.supp?.logoff();
  }

  /** Forces a new SAK (when we are key server of the running session); null: no session runs. */
  async forceRekey(): Promise<KayEvent[] | null> {
    const s = this.session;
    if (!s) return null;
    const events = s.driver.forceRekey();
    await s.driver.settled();
    return events;
  }

  /** Stops MKA (leaving the CA, deleting SAs), the PAE and the shared link. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.disarmRecovery();
    this.auth?.stop();
    this.supp?.stop();
    await this.enqueue(() => this.stopSession('port stopped'));
    await this.chain;
    await this.opts.authenticator?.backend.close?.().catch(() => undefined);
    this.demux.close();
  }

  /** Resolves when all queued transitions are done (tests). */
  idle(): Promise<void> {
    return this.chain;
  }

  status(): EapMkaPortStatus {
    const pae = this.auth?.pae ?? this.supp!.pae;
    return {
      name: this.opts.name,
      role: this.opts.role,
      paeState: pae.state,
      ...this.st,
      cakChanges: this.cakChanges,
      ckn: this.session ? (this.session.kay.status().principalCkn ?? this.session.ckn) : null,
      kay: this.session ? this.session.kay.status() : null,
      mkaEvents: { ...this.mkaEvents },
      demux: { ...this.demux.counters, dropped: { ...this.demux.counters.dropped } },
    };
  }

  counters(): KayCounters | null {
    return this.session ? this.session.kay.counters() : null;
  }

  // ----------------------------------------------------------------------------------------

  private onAuthorized(a: AuthorizedEvent): void {
    this.st.identity = a.identity ?? null;
    this.authSucceeded(a.peer, a.reauthentication, a);
  }

  private onAuthenticated(a: AuthenticatedEvent): void {
    this.authSucceeded(a.authenticator, this.st.authorized, a);
  }

  private authSucceeded(peer: Uint8Array, reauth: boolean, keys: { msk: Uint8Array; emsk?: Uint8Array; cak: Uint8Array; ckn: Uint8Array }): void {
    // Take copies now; the event's secrets are zeroed right after the KaY is built.
    const cak = Uint8Array.from(keys.cak);
    const ckn = Uint8Array.from(keys.ckn);
    zero(keys.msk, keys.emsk, keys.cak);
    const peerStr = macToString(peer);
    const wasAuthorized = this.st.authorized;
    this.st.authorized = true;
    this.st.peer = peerStr;
    this.st.lastReason = null;
    if (reauth && wasAuthorized) this.st.reauthentications++;
    else this.st.authentications++;
    const samePeer = reauth && wasAuthorized && this.sessionPeer === peerStr;
    this.log.info(samePeer ? 'port re-authenticated: new CAK joins MKA beside the running one' : 'port authorized: starting MKA', {
      peer: peerStr,
      ...(this.st.identity ? { identity: this.st.identity } : {}),
      ckn: toHex(ckn),
    });
    void this.enqueue(async () => {
      try {
        if (this.session && samePeer && !this.stopped && this.st.authorized && this.addSessionCak(this.session, cak, ckn)) return;
        if (this.session) await this.stopSession('re-authentication: new CAK');
        if (this.stopped || !this.st.authorized) return;
        this.startSession(cak, ckn);
        this.sessionPeer = peerStr;
      } finally {
        zero(cak);
      }
    });
    this.emit('change');
  }

  private onUnauthorized(reason: string, peer?: Uint8Array): void {
    const was = this.st.authorized;
    this.st.authorized = false;
    this.st.lastReason = reason;
    // Logoff and our own shutdown are not authentication failures.
    if (!/logoff|^port down$|^port stopped$/i.test(reason)) this.st.failures++;
    this.log.warn(was ? 'port unauthorized: stopping MKA and removing SAs' : 'port unauthorized', {
      reason,
      ...(peer ? { peer: macToString(peer) } : {}),
    });
    void this.enqueue(() => this.stopSession(reason));
    this.emit('change');
  }

  private enqueue(op: () => Promise<void> | void): Promise<void> {
    const next = this.chain.then(op).catch((e: Error) => this.log.error('port transition failed', { error: e.message }));
    this.chain = next;
    return next;
  }

  /** Make before break: the new CA runs beside the old one and takes over; false: restart instead. */
  private addSessionCak(s: Session, cak: Uint8Array, ckn: Uint8Array): boolean {
    try {
      if (!s.driver.addCak({ cak, ckn }, { replace: true })) return false;
    } catch (e) {
      this.log.warn('new CAK not added to the running MKA session: restarting it', { error: (e as Error).message });
      return false;
    }
    this.cakChanges++;
    this.log.info('mka: new CA added, old one leaves once the new is in use', { ckn: toHex(ckn) });
    return true;
  }

  private startSession(cak: Uint8Array, ckn: Uint8Array): void {
    const capability = this.opts.mka.macsecCapability ?? this.opts.secy.macsecCapability; // what the SecY implements
    const cfg: KayConfig = {
      ...this.opts.mka,
      ...(capability !== undefined ? { macsecCapability: capability } : {}),
      sci: { mac: this.opts.link.mac, port: this.opts.sciPort ?? 1 },
      primary: { cak, ckn },
    };
    const kay = (this.opts.kayFactory ?? defaultKayFactory)(cfg); // copies the CAK
    const channel = this.demux.openMkaChannel();
    const secy = new SessionSecy(this.opts.secy);
    const log = this.log.child({ ckn: toHex(ckn) });
    // Events come from the driver's promise chain, so never before the session is recorded.
    const driver = driveKay(
      kay,
      secy,
      channel,
      log,
      this.mkaEvents,
      (ev: DriverEvent) => {
        if (ev.kind === 'secured') {
          this.recoveriesInARow = 0;
          this.disarmRecovery();
        } else if (ev.kind === 'unsecured') this.armRecovery();
        this.emit('mka', ev);
        this.emit('change');
      },
      this.opts.clock,
    );
    this.session = { driver, kay, ckn: toHex(ckn) };
    this.st.kayStarts++;
    this.armRecovery();
    log.info('mka started', { cipherSuite: this.opts.mka.cipherSuite, priority: this.opts.mka.priority });
  }

  private async stopSession(reason: string): Promise<void> {
    const s = this.session;
    if (!s) {
      // Not running: still make sure nothing is installed.
      const swept = await sweepSecy(this.opts.secy);
      if (swept.txSas + swept.rxSas + swept.rxScs > 0) this.log.warn('removed stray SAs', { ...swept });
      return;
    }
    this.session = undefined;
    this.sessionPeer = null;
    this.disarmRecovery();
    await s.driver.stop(true); // KaY leaves; SessionSecy.close() sweeps the kernel
    this.log.info('mka stopped, SAs removed', { reason, ckn: s.ckn });
    this.emit('sessionStopped', reason);
    this.emit('change');
  }

  private armRecovery(): void {
    const base = this.opts.mkaRecoveryMs ?? 15_000;
    if (!this.auth || base <= 0 || this.stopped) return;
    clearTimeout(this.recovery);
    const ms = Math.min(base * 2 ** this.recoveriesInARow, 300_000);
    this.recovery = setTimeout(() => this.recover(ms), ms);
    this.recovery.unref?.();
  }

  private disarmRecovery(): void {
    clearTimeout(this.recovery);
    this.recovery = undefined;
  }

  private recover(afterMs: number): void {
    this.recovery = undefined;
    const s = this.session;
    if (!s || this.stopped || !this.st.authorized) return;
    const k = s.kay.status();
    if (k.secured) return;
    this.recoveriesInARow++;
    this.st.mkaRecoveries++;
    this.log.warn('MKA has not secured the port since authentication: re-authenticating the supplicant', {
      afterMs,
      livePeers: k.livePeers.length,
      peer: this.st.peer,
    });
    this.auth!.reauthenticate(`MKA not secured ${afterMs} ms after authentication`);
  }
}

function zero(...bufs: (Uint8Array | undefined)[]): void {
  for (const b of bufs) b?.fill(0);
}
