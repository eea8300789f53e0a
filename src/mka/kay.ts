/**
 * The KaY (802.1X-2010 clause 9): runs one MKA participant per CAK (primary, optional fallback,
 * and newer CAKs added while it runs), picks the principal participant that drives the SecY, and
 * turns frames and time into MKPDUs, SecY actions and events. A CAK change is make before break:
 * the new CA's participant (the successor) agrees its SAK beside the principal and installs it
 * for receive under another AN; when the key may go into use it becomes principal and transmits,
 * and the former principal keeps receiving until its peers have switched, then leaves. Pure: no
 * I/O, no clock, no timers of its own; the caller delivers frames, calls tick() by
 * nextDeadline(), and applies the actions.
 *
 * Design notes: docs/mka.md.
 */
import { MacsecError } from '../common/errors.js';
import { randomBytes } from 'node:crypto';
import {
  CIPHER_SUITES,
  type CipherSuiteName,
  CKN_MAX_LEN,
  DEFAULT_CIPHER_SUITE,
  MKA_HELLO_TIME_MS,
  MKA_LIFE_TIME_MS,
  MKA_SAK_RETIRE_TIME_MS,
  PAE_GROUP_ADDRESS,
} from './constants.js';
import { bytesEqual } from '../common/hex.js';
import { type CakConfig, type KayConfig, type KayCounters, type KayOutput, type KayStatus, newCounters, OutputSink } from './kay-types.js';
import { decodeMkpdu } from './mkpdu.js';
import { Participant } from './participant.js';
import { AdoptedSas, adoptedIsEmpty } from './adopted.js';
import { SecyShare } from './secy-share.js';
import type { Env, PortState, ResolvedConfig } from './participant-env.js';
import { sciHex } from './peers.js';
import type { SecyAction, SecyPnStatus } from './secy.js';

export type {
  CakConfig,
  KayConfig,
  KayCounters,
  KayEvent,
  KayKeyStatus,
  KayOutput,
  KayParticipantStatus,
  KayPeerStatus,
  KayStatus,
  MacsecPolicy,
  RekeyReason,
} from './kay-types.js';

export class KayConfigError extends MacsecError {
  constructor(message: string) {
    super('config_invalid', message);
  }
}

function checkCak(c: CakConfig | undefined, what: string): void {
  if (!c) return;
  if (!(c.cak instanceof Uint8Array) || (c.cak.length !== 16 && c.cak.length !== 32)) throw new KayConfigError(`${what}.cak must be 16 or 32 octets`);
  if (!(c.ckn instanceof Uint8Array) || c.ckn.length < 1 || c.ckn.length > CKN_MAX_LEN) throw new KayConfigError(`${what}.ckn must be 1..32 octets`);
}

/** How long a removed principal waits for its successor to take over before it goes anyway (life times). */
const REMOVE_GRACE_LIFETIMES = 2;

/** Adopted SAs (KayConfig.adopted) go at the latest this many life times after start without a key of ours. */
const ADOPTED_LIMIT_LIFETIMES = 2;

function resolveConfig(cfg: KayConfig): ResolvedConfig {
  const fail = (m: string): never => {
    throw new KayConfigError(m);
  };
  if (!cfg || !cfg.sci || !(cfg.sci.mac instanceof Uint8Array) || cfg.sci.mac.length !== 6) fail('sci.mac must be 6 octets');
  const port = cfg.sci.port ?? 1;
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) fail('sci.port must be 0..65535');
  checkCak(cfg.primary, 'primary');
  if (!cfg.primary) fail('primary CAK is required');
  checkCak(cfg.fallback, 'fallback');
  if (cfg.fallback && bytesEqual(cfg.fallback.ckn, cfg.primary.ckn)) fail('fallback CKN must differ from the primary CKN');
  const cipherSuite: CipherSuiteName = cfg.cipherSuite ?? DEFAULT_CIPHER_SUITE;
  if (!(cipherSuite in CIPHER_SUITES)) fail(`unknown cipher suite ${String(cipherSuite)}`);
  const xpn = CIPHER_SUITES[cipherSuite].xpn;
  const priority = cfg.priority ?? 16;
  if (!Number.isInteger(priority) || priority < 0 || priority > 255) fail('priority must be 0..255');
  const helloTimeMs = cfg.helloTimeMs ?? MKA_HELLO_TIME_MS;
  const lifeTimeMs = cfg.lifeTimeMs ?? MKA_LIFE_TIME_MS;
  if (!(helloTimeMs > 0)) fail('helloTimeMs must be positive');
  if (!(lifeTimeMs > helloTimeMs)) fail('lifeTimeMs must exceed helloTimeMs');
  const off = cfg.confidentialityOffset === undefined ? 0 : cfg.confidentialityOffset;
  if (off !== null && off !== 0 && off !== 30 && off !== 50) fail('confidentialityOffset must be 0, 30, 50 or null');
  const secyCapability = cfg.macsecCapability ?? 2;
  if (secyCapability !== 1 && secyCapability !== 2 && secyCapability !== 3) fail('macsecCapability must be 1, 2 or 3');
  if ((off === 30 || off === 50) && secyCapability < 3)
    fail(`confidentialityOffset ${off} is beyond the SecY's MACsec capability ${secyCapability} (offset 0 or none only)`);
  if (off === 0 && secyCapability < 2) fail("confidentialityOffset 0 is beyond the SecY's MACsec capability 1 (integrity only)");
  const canBeKeyServer = cfg.canBeKeyServer ?? true;
  if (typeof canBeKeyServer !== 'boolean') fail('canBeKeyServer must be a boolean');
  const destination = cfg.destination ?? PAE_GROUP_ADDRESS;
  if (!(destination instanceof Uint8Array) || destination.length !== 6) fail('destination must be 6 octets');
  const policy = cfg.policy ?? 'must-secure';
  if (policy !== 'must-secure' && policy !== 'should-secure') fail('policy must be must-secure or should-secure');
  const eapolVersion = cfg.eapolVersion ?? 3;
  const mkaVersion = cfg.mkaVersion ?? (xpn ? 3 : 1);
  if (!Number.isInteger(eapolVersion) || eapolVersion < 1 || eapolVersion > 255) fail('eapolVersion must be 1..255');
  if (!Number.isInteger(mkaVersion) || mkaVersion < 1 || mkaVersion > 255) fail('mkaVersion must be 1..255');
  const rekeyPeriodMs = cfg.rekeyPeriodMs ?? 0;
  if (!(rekeyPeriodMs >= 0)) fail('rekeyPeriodMs must be >= 0');
  const sci = { mac: Uint8Array.from(cfg.sci.mac), port };
  const random = cfg.random ?? ((n: number) => Uint8Array.from(randomBytes(n)));
  return {
    sci,
    sciHex: sciHex(sci),
    priority,
    cipherSuite,
    policy,
    confidentialityOffset: off,
    macsecCapability: off === null ? 1 : secyCapability,
    secyCapability,
    canBeKeyServer,
    helloTimeMs,
    lifeTimeMs,
    rekeyPeriodMs,
    pnExhaustionThreshold: cfg.pnExhaustionThreshold ?? (xpn ? 0xc000000000000000n : 0xc0000000n),
    destination: Uint8Array.from(destination),
    eapolVersion,
    mkaVersion,
    random,
  };
}

export class Kay {
  private readonly env: Env;
  /** In order of preference: newest CAK first, the fallback last. */
  private readonly participants: Participant[];
  /** Participants being removed, with when they go even without a successor in use. */
  private readonly removeAt = new Map<Participant, number>();
  private principal: Participant | null = null;
  private running = false;
  private stopped = false;
  private lastNow = -Infinity;
  /** SAs of an earlier run kept in use until ours transmit; when they go at the latest; when our key first transmitted. */
  private adopted: AdoptedSas | null = null;
  private adoptedUntil = Infinity;
  private securedAt: number | null = null;

  constructor(cfg: KayConfig) {
    const resolved = resolveConfig(cfg);
    const port: PortState = {
      enabled: false,
      protectFrames: resolved.policy === 'must-secure',
      validate: resolved.policy === 'must-secure' ? 'strict' : 'check',
      cipherSuite: resolved.cipherSuite,
      confidentialityOffset: resolved.confidentialityOffset,
      suiteRefused: false,
      secured: false,
    };
    this.env = { cfg: resolved, port, counters: newCounters(), out: new OutputSink(), share: new SecyShare() };
    this.participants = [this.newParticipant(cfg.primary, true)];
    if (cfg.fallback) this.participants.push(this.newParticipant(cfg.fallback, false));
    if (cfg.adopted && !adoptedIsEmpty(cfg.adopted)) {
      this.adopted = new AdoptedSas(cfg.adopted, this.env.share);
      port.enabled = cfg.adopted.controlledPortEnabled;
    }
  }

  private newParticipant(c: CakConfig, isPrimary: boolean): Participant {
    return new Participant(this.env, c.cak, c.ckn, isPrimary, { takeOver: (p, now) => this.takeOver(p, now) });
  }

  /**
   * Adds a CA that is preferred to every one running (EAP re-authentication, the next key of a
   * key chain). It takes over without a gap once its SAK is installed for receive by every peer;
   * `replace`: the primary CAs it supersedes leave once it is in use (while their peers still
   * use them and it has none, they stay: a peer that never got the new CAK keeps its link).
   * Throws KayConfigError on a malformed CAK/CKN or a CKN already running.
   */
  addCak(c: CakConfig, now: number, opts: { replace?: boolean } = {}): KayOutput {
    checkCak(c, 'cak');
    if (this.participants.some((p) => bytesEqual(p.ckn, c.ckn))) throw new KayConfigError('ckn is already in use by this KaY');
    return this.run(now, () => {
      if (this.stopped) return;
      if (opts.replace) for (const p of this.participants) if (p.isPrimary) p.replaced = true;
      const np = this.newParticipant(c, true);
      this.participants.unshift(np);
      if (!this.running) return;
      np.start(now);
      this.updatePrincipal(now);
    });
  }

  /**
   * Removes a CA. The principal goes once a successor has taken over (at most two life times;
   * then, or without a successor, at once: the port is unsecured until another CA secures it).
   */
  removeCak(ckn: Uint8Array, now: number): KayOutput {
    return this.run(now, () => {
      const p = this.participants.find((x) => bytesEqual(x.ckn, ckn));
      if (!p) return this.env.out.events.push({ kind: 'dropped', reason: 'removeCak: no CA with this CKN' }) && undefined;
      if (this.participants.filter((x) => !x.replaced).length <= 1 && !p.replaced) {
        this.env.out.events.push({ kind: 'dropped', reason: 'removeCak: the last CA is not removed' });
        return;
      }
      p.replaced = true;
      const waits = p === this.principal && this.participants.some((x) => x.role === 'successor');
      this.removeAt.set(p, waits ? now + REMOVE_GRACE_LIFETIMES * this.env.cfg.lifeTimeMs : now);
      this.updatePrincipal(now);
    });
  }

  /** CKNs (hex) of the CAs running, in order of preference. */
  ckns(): string[] {
    return this.participants.map((p) => p.cknHex);
  }

  /** Starts MKA: initial SecY configuration and the first MKPDU of each participant. */
  start(now: number): KayOutput {
    return this.run(now, () => {
      if (this.running || this.stopped) return;
      this.running = true;
      const { cfg, port } = this.env;
      const out = this.env.out;
      if (this.adopted) {
        // An earlier run's SAs carry traffic: the port stays as that run set it up (from the
        // same configuration) until our own key is in use.
        this.adoptedUntil = now + ADOPTED_LIMIT_LIFETIMES * cfg.lifeTimeMs;
        out.events.push({ kind: 'dropped', reason: 'SecY holds SAs of an earlier run: kept in use until a key of ours transmits' });
      } else out.actions.push({ kind: 'setCipherSuite', cipherSuite: cfg.cipherSuite, confidentialityOffset: cfg.confidentialityOffset });
      if (this.adopted) {
        // nothing: protect/validate and the controlled port are the earlier run's
      } else if (cfg.policy === 'must-secure') {
        out.actions.push({ kind: 'setProtect', protectFrames: true, validate: 'strict' });
        out.actions.push({ kind: 'setControlledPortEnabled', enabled: false });
      } else {
        // should-secure: the controlled port is open, unprotected, until a MACsec peer secures it.
        out.actions.push({ kind: 'setProtect', protectFrames: false, validate: 'check' });
        out.actions.push({ kind: 'setControlledPortEnabled', enabled: true });
        port.enabled = true;
      }
      this.principal = this.participants[0]!;
      this.principal.activate(now);
      for (const p of this.participants) p.start(now);
    });
  }

  /** A whole Ethernet frame carrying EAPOL-MKA. Never throws; bad input is dropped and counted. */
  receive(frame: Uint8Array, now: number): KayOutput {
    return this.run(now, () => {
      const c = this.env.counters;
      c.mkpdusReceived++;
      if (!this.running) return this.drop('KaY not running');
      if (!(frame instanceof Uint8Array)) {
        c.malformed++;
        return this.drop('not a frame');
      }
      const res = decodeMkpdu(frame);
      if (!res.ok) {
        c.malformed++;
        return this.drop(`malformed MKPDU: ${res.error.field}: ${res.error.message}`);
      }
      const pdu = res.value;
      const part = this.participants.find((p) => bytesEqual(p.ckn, pdu.basic.ckn));
      if (!part) {
        c.unknownCkn++;
        return this.drop('unknown CKN');
      }
      part.handle(pdu, now);
      this.updatePrincipal(now);
    });
  }

  /** Timers. `pn` is what the SecY reports (next TX PN per AN), for LPN reporting and PN exhaustion. */
  tick(now: number, pn?: SecyPnStatus): KayOutput {
    return this.run(now, () => {
      if (!this.running) return;
      for (const p of this.participants) p.tick(now, p === this.principal ? pn : undefined);
      this.updatePrincipal(now);
    });
  }

  /** Absolute time at which tick() must next be called (Infinity when stopped). */
  nextDeadline(): number {
    if (!this.running) return Infinity;
    let d = Infinity;
    for (const p of this.participants) d = Math.min(d, p.deadline());
    for (const t of this.removeAt.values()) if (t > this.lastNow) d = Math.min(d, t);
    if (this.adopted) d = Math.min(d, this.adoptedUntil, this.securedAt !== null ? this.securedAt + MKA_SAK_RETIRE_TIME_MS : Infinity);
    return d;
  }

  /** Key server: distribute a new SAK now. Otherwise a no-op with a 'dropped' event giving the reason. */
  forceRekey(now: number): KayOutput {
    return this.run(now, () => {
      if (!this.running || !this.principal) {
        this.env.out.events.push({ kind: 'dropped', reason: 'forceRekey ignored: KaY not running' });
        return;
      }
      const why = this.principal.forceRekey(now);
      if (why) this.env.out.events.push({ kind: 'dropped', reason: `forceRekey ignored: ${why}` });
      this.updatePrincipal(now);
    });
  }

  /**
   * Tells the KaY that the SecY refused one of the actions it asked for (the driver calls this
   * instead of sending the MKPDUs of that step, which would describe SAs that do not exist).
   */
  secyFailed(action: SecyAction, error: string, now: number): KayOutput {
    return this.run(now, () => {
      if (!this.running || !this.principal) return;
      // The principal first; an SA of a successor's key is the successor's.
      for (const p of [this.principal, ...this.participants.filter((x) => x.role === 'successor')]) {
        const ki = p.secyFailed(action, error, now);
        if (ki) {
          this.env.out.events.push({ kind: 'keyRefused', ki, action: action.kind, reason: error });
          return;
        }
      }
    });
  }

  /**
   * In-service suspension for a planned restart: the principal's last MKPDU tells its live peers
   * we stop sending MKPDUs for `seconds` (802.1X-2020; honoured up to 120 s by our peers) while
   * every SA stays in use; nothing is deleted. The KaY is stopped afterwards; the next run adopts
   * the SAs (KayConfig.adopted).
   */
  suspend(now: number, seconds: number): KayOutput {
    return this.run(now, () => {
      if (!this.running) return;
      this.principal?.suspend(now, seconds);
      this.running = false;
      this.stopped = true;
    });
  }

  /** Leaves: deletes SAs and SCs and disables the controlled port. No further MKPDUs are sent. */
  stop(now: number): KayOutput {
    return this.run(now, () => {
      if (!this.running) return;
      if (this.adopted) this.env.out.actions.push(...this.adopted.release());
      this.adopted = null;
      for (const p of this.participants) p.stop(now);
      const out = this.env.out;
      if (this.env.port.enabled) out.actions.push({ kind: 'setControlledPortEnabled', enabled: false });
      this.env.port.enabled = false;
      this.env.port.secured = false;
      this.principal = null;
      this.running = false;
      this.stopped = true;
    });
  }

  status(): KayStatus {
    const parts = this.participants.map((p) => p.status());
    const pr = (this.principal ?? this.participants[0]!).status();
    const port = this.env.port;
    return {
      sci: this.env.cfg.sciHex,
      running: this.running,
      policy: this.env.cfg.policy,
      principalCkn: this.principal ? this.principal.cknHex : null,
      mi: pr.mi,
      mn: pr.mn,
      keyServer: pr.keyServer,
      livePeers: pr.livePeers,
      potentialPeers: pr.potentialPeers,
      latestKey: pr.latestKey,
      oldKey: pr.oldKey,
      txKey: pr.latestKey?.tx ? pr.latestKey : pr.oldKey?.tx ? pr.oldKey : null,
      secured: port.secured,
      controlledPortEnabled: port.enabled,
      protectFrames: port.protectFrames,
      cipherSuite: port.cipherSuite,
      confidentialityOffset: port.confidentialityOffset,
      participants: parts,
      counters: this.counters(),
    };
  }

  counters(): KayCounters {
    return { ...this.env.counters };
  }

  // -------------------------------------------------------------------------------------------

  /**
   * The principal changes at once only when it has no live peers left or is removed (break
   * before make: nothing else can carry traffic); otherwise the most preferred other CA with
   * live peers becomes the successor and takes over itself (takeOver) when its key is ready.
   */
  private updatePrincipal(now: number): void {
    if (!this.running) return;
    this.lastNow = now;
    const cur = this.principal;
    const gone = (p: Participant) => (this.removeAt.get(p) ?? Infinity) <= now;
    if (!cur?.hasLivePeers() || gone(cur)) {
      const want =
        this.participants.find((p) => !p.replaced && p.hasLivePeers()) ??
        (cur && !gone(cur) && cur.hasLivePeers() ? cur : undefined) ??
        this.participants.find((p) => !p.replaced) ??
        this.participants[0]!;
      if (want !== cur) {
        cur?.deactivate(now, 'principal participant changed');
        this.principal = want;
        want.activate(now);
        this.env.out.events.push({ kind: 'principalChanged', ckn: want.cknHex });
      }
    }
    const pr = this.principal!;
    const before = this.participants.slice(0, this.participants.indexOf(pr));
    const succ = before.find((p) => !p.replaced && p.hasLivePeers()) ?? null;
    for (const p of this.participants) if (p !== this.principal) p.setSuccessor(p === succ, now);
    for (const p of [...this.participants]) {
      if (!p.replaced || p === this.principal || (p.keyed && !gone(p))) continue;
      p.stop(now);
      p.destroy();
      this.participants.splice(this.participants.indexOf(p), 1);
      this.removeAt.delete(p);
    }
  }

  /**
   * A successor's key may go into use: it becomes principal and the former one retires, once
   * every peer the principal counts live receives with the new key (members of the old CA that
   * are not in the new one yet keep the old CA in use).
   */
  private takeOver(p: Participant, now: number): boolean {
    const cur = this.principal;
    if (!this.running || !cur || p === cur || p.role !== 'successor') return false;
    // Every system the principal still carries traffic with must receive the new key first.
    const receiving = p.scisReceivingLatest();
    for (const sci of cur.liveScis()) if (!receiving.has(sci)) return false;
    cur.handOver(now);
    p.promote();
    this.principal = p;
    this.env.out.events.push({ kind: 'principalChanged', ckn: p.cknHex });
    return true;
  }

  private drop(reason: string): void {
    this.env.counters.mkpdusDropped++;
    this.env.out.events.push({ kind: 'dropped', reason });
  }

  /** Adopted SAs go once our key has transmitted for the retire time, or when waiting is over. */
  private releaseAdopted(now: number): void {
    if (!this.adopted || !this.running) return;
    if (this.securedAt === null && this.env.port.secured) this.securedAt = now;
    const done = this.securedAt !== null && now >= this.securedAt + MKA_SAK_RETIRE_TIME_MS;
    if (!done && now < this.adoptedUntil) return;
    const out = this.env.out;
    out.actions.push(...this.adopted.release());
    this.adopted = null;
    const port = this.env.port;
    if (!port.secured && this.env.cfg.policy === 'must-secure' && port.enabled) {
      port.enabled = false;
      out.actions.push({ kind: 'setControlledPortEnabled', enabled: false });
    }
    out.events.push({
      kind: 'dropped',
      reason: done ? 'SAs of the earlier run removed: our key is in use' : 'SAs of the earlier run removed: no key of ours in time',
    });
  }

  private run(now: number, fn: () => void): KayOutput {
    const out = new OutputSink();
    this.env.out = out;
    this.lastNow = Math.max(this.lastNow, now);
    try {
      fn();
      if (this.adopted) this.releaseAdopted(now);
    } catch (e) {
      // Never let a bug surface as an exception to the caller; report it as a drop.
      this.env.counters.mkpdusDropped++;
      out.events.push({ kind: 'dropped', reason: `internal error: ${(e as Error)?.message ?? String(e)}` });
    }
    return { frames: out.frames, actions: out.actions, events: out.events };
  }
}
