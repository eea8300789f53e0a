/**
 * The KaY (802.1X-2010 clause 9): runs one MKA participant per configured CAK (primary and
 * optional fallback), picks the principal participant that drives the SecY, and turns frames
 * and time into MKPDUs, SecY actions and events. Pure: no I/O, no clock, no timers of its own;
 * the caller delivers frames, calls tick() by nextDeadline(), and applies the actions.
 *
 * Design notes: docs/mka.md.
 */
import { MacsecError } from '../common/errors.js';
import { randomBytes } from 'node:crypto';
import { CIPHER_SUITES, type CipherSuiteName, CKN_MAX_LEN, DEFAULT_CIPHER_SUITE, MKA_HELLO_TIME_MS, MKA_LIFE_TIME_MS, PAE_GROUP_ADDRESS } from './constants.js';
import { bytesEqual } from '../common/hex.js';
import { type CakConfig, type KayConfig, type KayCounters, type KayOutput, type KayStatus, newCounters, OutputSink } from './kay-types.js';
import { decodeMkpdu } from './mkpdu.js';
import { Participant } from './participant.js';
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

function resolveConfig(cfg: KayConfig): ResolvedConfig {
  const fail = (m: string): never => {
    throw new KayConfigError(m);
  };
  if (!cfg || !cfg.sci || !(cfg.sci.mac instanceof Uint8Array) || cfg.sci.mac.length !== 6) fail('sci.mac must be 6 octets');
  const port = cfg.sci.port ?? 1;
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) fail('sci.port must be 0..65535');
  const checkCak = (c: CakConfig | undefined, what: string) => {
    if (!c) return;
    if (!(c.cak instanceof Uint8Array) || (c.cak.length !== 16 && c.cak.length !== 32)) fail(`${what}.cak must be 16 or 32 octets`);
    if (!(c.ckn instanceof Uint8Array) || c.ckn.length < 1 || c.ckn.length > CKN_MAX_LEN) fail(`${what}.ckn must be 1..32 octets`);
  };
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
  private readonly participants: Participant[];
  private principal: Participant | null = null;
  private running = false;
  private stopped = false;

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
    this.env = { cfg: resolved, port, counters: newCounters(), out: new OutputSink() };
    this.participants = [new Participant(this.env, cfg.primary.cak, cfg.primary.ckn, true)];
    if (cfg.fallback) this.participants.push(new Participant(this.env, cfg.fallback.cak, cfg.fallback.ckn, false));
  }

  /** Starts MKA: initial SecY configuration and the first MKPDU of each participant. */
  start(now: number): KayOutput {
    return this.run(() => {
      if (this.running || this.stopped) return;
      this.running = true;
      const { cfg, port } = this.env;
      const out = this.env.out;
      out.actions.push({ kind: 'setCipherSuite', cipherSuite: cfg.cipherSuite, confidentialityOffset: cfg.confidentialityOffset });
      if (cfg.policy === 'must-secure') {
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
    return this.run(() => {
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
    return this.run(() => {
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
    return d;
  }

  /** Key server: distribute a new SAK now. Otherwise a no-op with a 'dropped' event giving the reason. */
  forceRekey(now: number): KayOutput {
    return this.run(() => {
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
    return this.run(() => {
      if (!this.running || !this.principal) return;
      const ki = this.principal.secyFailed(action, error, now);
      if (ki) this.env.out.events.push({ kind: 'keyRefused', ki, action: action.kind, reason: error });
    });
  }

  /** Leaves: deletes SAs and SCs and disables the controlled port. No further MKPDUs are sent. */
  stop(now: number): KayOutput {
    return this.run(() => {
      if (!this.running) return;
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

  private updatePrincipal(now: number): void {
    if (!this.running) return;
    const want = this.participants.find((p) => p.hasLivePeers()) ?? this.participants[0]!;
    if (want === this.principal) return;
    this.principal?.deactivate(now, 'principal participant changed');
    this.principal = want;
    want.activate(now);
    this.env.out.events.push({ kind: 'principalChanged', ckn: want.cknHex });
  }

  private drop(reason: string): void {
    this.env.counters.mkpdusDropped++;
    this.env.out.events.push({ kind: 'dropped', reason });
  }

  private run(fn: () => void): KayOutput {
    const out = new OutputSink();
    this.env.out = out;
    try {
      fn();
    } catch (e) {
      // Never let a bug surface as an exception to the caller; report it as a drop.
      this.env.counters.mkpdusDropped++;
      out.events.push({ kind: 'dropped', reason: `internal error: ${(e as Error)?.message ?? String(e)}` });
    }
    return { frames: out.frames, actions: out.actions, events: out.events };
  }
}
