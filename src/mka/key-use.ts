/**
 * Key use: the part of the CP state machine (802.1X-2010 Figure 12-2: RECEIVE, RECEIVING, READY,
 * TRANSMIT, TRANSMITTING, RETIRE, ABANDON) that moves the principal participant's latest and old
 * keys through the SecY. It decides nothing about which key comes next (key server, Distributed
 * SAK); it installs, switches and retires what it is given. Pure: SecY changes go out as
 * SecyAction values, only while the participant is principal.
 */
import { MKA_SAK_RETIRE_TIME_MS } from './constants.js';
import { zeroize } from './crypto.js';
import { toHex } from '../common/hex.js';
import { type KeyServerInfo, capablePeers, isKeyOf } from './key-server.js';
import type { Env } from './participant-env.js';
import type { ShareUser } from './secy-share.js';
import type { PeerTable } from './peers.js';
import { type KeyState, kiEqual, kiHex } from './sak.js';
import { allReceiving, anyTransmitting, holdsKey, membersReceiving, reportsTx } from './sak-use.js';
import type { SecyAction } from './secy.js';
import type { TxSchedule } from './tx-schedule.js';
import type { KeyIdentifier } from './types.js';

/** Keys (KIs) whose RX SA installs a participant remembers, to never install one twice. */
const MAX_REMEMBERED_RX_KIS = 64;

/**
 * How the participant stands on the SecY: the principal drives it; a successor (a newer CA
 * getting ready to take over) installs its keys beside the principal's but neither transmits
 * nor touches the port; a retiring participant (the former principal) keeps receiving with its
 * keys until its peers have switched too; a standby one holds no SA.
 */
export type SecyRole = 'principal' | 'successor' | 'retiring' | 'standby';

export interface KeyUseHost {
  env: Env;
  peers: PeerTable;
  schedule: TxSchedule;
  role(): SecyRole;
  /** A successor whose key may go into use asks to become principal; true when it now is. */
  takeOver(now: number): boolean;
}

/** SecY actions only the principal takes: they act on the port and on what it transmits. */
const PRINCIPAL_ONLY = new Set<SecyAction['kind']>(['setProtect', 'setCipherSuite', 'setControlledPortEnabled', 'enableTxSa']);

export class KeyUse implements ShareUser {
  latest: KeyState | null = null;
  old: KeyState | null = null;
  /** Non key server: a distributed key that arrived while the previous one was still retiring. */
  pendingKey: { key: KeyState; from: string } | null = null;
  /** RX SCs this participant uses (shared with the KaY's other participants), by SCI hex. */
  readonly rxScs = new Set<string>();
  /** Keys (KI hex) the SecY refused to install: never installed again. */
  readonly refusedKis = new Set<string>();
  /**
   * SCIs (hex) that ever had an RX SA for a key, by KI hex (the most recent keys). An RX SA
   * starts its replay window at lowest PN 1, so a second RX SA for the same SCI and key would
   * accept again every frame received with the first one: never install one twice.
   */
  private readonly rxInstalled = new Map<string, Set<string>>();

  constructor(private readonly host: KeyUseHost) {}

  private get env(): Env {
    return this.host.env;
  }

  private get principal(): boolean {
    return this.host.role() === 'principal';
  }

  /** May install SAs: the principal and a successor. */
  private get installs(): boolean {
    const r = this.host.role();
    return r === 'principal' || r === 'successor';
  }

  ansInUse(): number[] {
    return [this.latest, this.old].filter((k): k is KeyState => !!k).map((k) => k.an);
  }

  /**
   * A successor takes a key only if the SecY can hold it beside the principal's: the same cipher
   * suite and offset (one per SecY) and an AN no other participant's key holds.
   */
  canHold(key: { an: number; cipherSuite: KeyState['cipherSuite']; confidentialityOffset: number | null }): string | null {
    if (this.principal) return null;
    const port = this.env.port;
    if (port.suiteRefused || port.cipherSuite !== key.cipherSuite || port.confidentialityOffset !== key.confidentialityOffset)
      return 'its cipher suite or offset differs from the one in use';
    if (this.env.share.ansOfOthers(this).has(key.an)) return `AN ${key.an} is in use by another CA's key`;
    return null;
  }

  /** Handover: the new principal transmits now; our keys stay for receive only. */
  stopTransmitting(): void {
    for (const k of [this.latest, this.old]) if (k) k.tx = false;
    this.dropPending();
  }

  /** Every key held, the pending one included. */
  held(): KeyState[] {
    return [this.latest, this.old, this.pendingKey?.key].filter((k): k is KeyState => !!k);
  }

  /** A key we hold or the SecY refused: a Distributed SAK for it is not taken again. */
  knows(ki: KeyIdentifier): boolean {
    return this.held().some((k) => kiEqual(k.ki, ki)) || this.refusedKis.has(kiHex(ki));
  }

  /** RECEIVE: install RX SAs on every RX SC and a (not yet enabled) TX SA, then report lrx. */
  receive(key: KeyState, now: number): void {
    // Never drop a key that is on the wire: it becomes the old key (callers wait for RETIRE first).
    if (this.latest?.tx) this.retire(now, false);
    if (this.old && this.old.an === key.an) {
      // A key server reusing the AN of the key still in use leaves no room for both.
      this.deleteKeySas(this.old);
      zeroize(this.old.sak);
      this.old = null;
    }
    // SAs left by an earlier run of the port on this AN give way (a key server elsewhere chose it).
    if (this.principal) this.env.out.actions.push(...this.env.share.claimAn(this, key.an));
    const port = this.env.port;
    if (port.suiteRefused || port.cipherSuite !== key.cipherSuite || port.confidentialityOffset !== key.confidentialityOffset) {
      port.suiteRefused = false;
      port.cipherSuite = key.cipherSuite;
      port.confidentialityOffset = key.confidentialityOffset;
      this.emit({ kind: 'setCipherSuite', cipherSuite: key.cipherSuite, confidentialityOffset: key.confidentialityOffset });
    }
    this.latest = key;
    for (const sci of this.rxScs) this.installRxSa(key, sci);
    const tx: SecyAction = { kind: 'installTxSa', an: key.an, nextPn: 1n, ki: key.kiHex, sak: Uint8Array.from(key.sak) };
    if (key.salt) {
      tx.ssci = key.ssci.get(this.env.cfg.sciHex) ?? 0;
      tx.salt = Uint8Array.from(key.salt);
    }
    this.emit(tx);
    key.rx = true;
    this.env.out.events.push({ kind: 'sakInstalled', ki: key.kiHex, an: key.an, role: 'rx' });
    this.host.schedule.urgent(now);
  }

  /** A distributed key: waits while TRANSMITTING (Figure 12-2), else replaces a latest key not yet in use. */
  receiveDistributed(key: KeyState, from: string, now: number): void {
    if (this.latest?.tx) {
      this.dropPending();
      this.pendingKey = { key, from };
      return;
    }
    if (this.latest && !this.latest.tx) this.abandon(now);
    this.receive(key, now);
  }

  /** Installs the keys held on the peer's RX SC, where its current MI may now receive them. */
  offerTo(sci: string): void {
    if (this.installs && this.rxScs.has(sci)) for (const k of [this.old, this.latest]) if (k) this.installRxSa(k, sci);
  }

  /**
   * Installs (and enables) the key's RX SA on one RX SC, if the peer with that SCI may receive
   * it: its current MI holds the key (it was distributed to that MI, or that MI reports it in its
   * SAK Use), and this SCI never had an RX SA for the key before. A restarted peer (same SCI,
   * new MI) thus never gets a key of its former incarnation, whose frames with that key an
   * attacker could otherwise replay into the fresh replay window (lowest PN 1).
   */
  private installRxSa(key: KeyState, sci: string): void {
    if (key.rxScs.has(sci)) return;
    if (this.rxInstalled.get(key.kiHex)?.has(sci)) return;
    if (!this.host.peers.live().some((p) => p.sciHex === sci && holdsKey(p, key))) return;
    const a: SecyAction = { kind: 'installRxSa', sci, an: key.an, lowestPn: 1n, ki: key.kiHex, sak: Uint8Array.from(key.sak) };
    if (key.salt) {
      const s = key.ssci.get(sci);
      if (s === undefined) return; // not a member of this key: nothing it sends can use it
      a.ssci = s;
      a.salt = Uint8Array.from(key.salt);
    }
    this.emit(a);
    this.emit({ kind: 'enableRxSa', sci, an: key.an, enable: true });
    key.rxScs.add(sci);
    this.rememberRxInstall(key, sci);
  }

  private rememberRxInstall(key: KeyState, sci: string): void {
    let scis = this.rxInstalled.get(key.kiHex);
    if (!scis) {
      scis = new Set();
      this.rxInstalled.set(key.kiHex, scis);
      // Forget the oldest keys (never one still held: KIs are never reused by a key server MI).
      for (const ki of this.rxInstalled.keys()) {
        if (this.rxInstalled.size <= MAX_REMEMBERED_RX_KIS) break;
        if (ki !== this.latest?.kiHex && ki !== this.old?.kiHex && ki !== key.kiHex) this.rxInstalled.delete(ki);
      }
    }
    scis.add(sci);
  }

  /**
   * TRANSMIT once the latest key may go into use. Our own key (key server): when every member
   * reports receiving it, at the latest one life time after it was made. Our key server's key
   * (READY): when the key server transmits with it; the first key (controlled port not yet
   * secured) already when every live peer reports receiving it: Figure 12-2 lets it go at once,
   * we wait until no peer can miss our frames.
   */
  stepTransmit(ks: KeyServerInfo | null, mi: Uint8Array, now: number): void {
    const L = this.latest;
    if (!L || L.tx || !ks || !this.installs) return;
    const capable = capablePeers(this.host.peers.live());
    let ready = false;
    if (ks.self && isKeyOf(L, mi)) {
      // A successor switches only once every member receives: the old CA still carries traffic.
      ready = membersReceiving(capable, L) || (this.principal && now >= L.createdAt + this.env.cfg.lifeTimeMs);
    } else if (!ks.self && toHex(L.ki.mi) === ks.miHex) {
      const serverTx = reportsTx(this.host.peers.get(ks.miHex)?.sakUse ?? null, L.ki);
      ready = serverTx || (!this.env.port.secured && allReceiving(capable, L));
    }
    if (ready && (this.principal || this.host.takeOver(now))) this.transmit(now);
  }

  /** TRANSMIT (and TRANSMITTING): switch transmission to the latest key. */
  private transmit(now: number): void {
    const key = this.latest!;
    this.emit({ kind: 'enableTxSa', an: key.an, enable: true });
    key.tx = true;
    key.txAt = now;
    if (this.old) this.old.tx = false;
    const port = this.env.port;
    const validate = this.env.cfg.policy === 'must-secure' ? 'strict' : 'check';
    if (!port.protectFrames || port.validate !== validate) {
      port.protectFrames = true;
      port.validate = validate;
      this.emit({ kind: 'setProtect', protectFrames: true, validate });
    }
    if (!port.enabled) {
      port.enabled = true;
      this.emit({ kind: 'setControlledPortEnabled', enabled: true });
    }
    port.secured = true;
    this.env.out.events.push({ kind: 'sakInstalled', ki: key.kiHex, an: key.an, role: 'tx' });
    this.env.out.events.push({ kind: 'secured', ki: key.kiHex });
    this.host.schedule.urgent(now);
  }

  /**
   * When the latest key may next change state: a key server's own key goes into use at the
   * latest one life time after it was made; a transmitting one retires the old key after the
   * retire time, at the latest one life time after the switch.
   */
  timers(keyServer: boolean): number[] {
    const L = this.latest;
    if (!L) return [];
    if (!L.tx) return keyServer ? [L.createdAt + this.env.cfg.lifeTimeMs] : [];
    return L.txAt !== null ? [L.txAt + MKA_SAK_RETIRE_TIME_MS, L.txAt + this.env.cfg.lifeTimeMs] : [];
  }

  /**
   * RETIRE once the latest key transmits: at once when there is no old key, else after the
   * retire time, and not while a live peer still transmits with the old key (up to a life time).
   */
  stepRetire(now: number, ownKeyAsServer = false, rekeyPending = false): void {
    const L = this.latest;
    if (!L?.tx || L.txAt === null) return;
    // A key server keeps its new key in the Latest slot for the retire time even without an old
    // key (a rekey it owes cuts that short once an MKPDU has shown it): wpa_supplicant 2.10
    // members see the key server transmit only in that slot (its ltx).
    if (ownKeyAsServer && (L.txShownAt === null || (!rekeyPending && now < L.txAt + MKA_SAK_RETIRE_TIME_MS))) return;
    if (this.old) {
      if (now < L.txAt + MKA_SAK_RETIRE_TIME_MS) return;
      if (anyTransmitting(this.host.peers.live(), this.old) && now < L.txAt + this.env.cfg.lifeTimeMs) return;
    }
    this.retire(now);
  }

  /** RETIRE: the old key goes, the latest becomes the old one (then a pending key is received). */
  private retire(now: number, takePending = true): void {
    if (this.old) {
      this.deleteKeySas(this.old);
      zeroize(this.old.sak);
    }
    this.old = this.latest;
    this.latest = null;
    this.host.schedule.urgent(now);
    if (takePending && this.pendingKey) {
      const { key } = this.pendingKey;
      this.pendingKey = null;
      this.receive(key, now);
    }
  }

  /** ABANDON: a latest key that never transmitted is dropped for a newer one. */
  abandon(now: number): void {
    const k = this.latest!;
    this.deleteKeySas(k);
    zeroize(k.sak);
    this.latest = null;
    this.host.schedule.urgent(now);
  }

  private deleteKeySas(k: KeyState): void {
    for (const sci of k.rxScs) {
      if (this.rxScs.has(sci)) this.emit({ kind: 'deleteRxSa', sci, an: k.an });
    }
    k.rxScs.clear();
    this.emit({ kind: 'deleteTxSa', an: k.an });
  }

  /** Deletes every key (no live peers left, principal change, key server advises plain). */
  dropKeys(reason: string): void {
    for (const k of [this.latest, this.old]) {
      if (!k) continue;
      this.deleteKeySas(k);
      zeroize(k.sak);
    }
    if (this.pendingKey) zeroize(this.pendingKey.key.sak);
    this.latest = this.old = null;
    this.pendingKey = null;
    this.setUnsecured(reason);
  }

  /** Forgets the pending distributed key (its key server is no longer ours). */
  dropPending(): void {
    if (this.pendingKey) zeroize(this.pendingKey.key.sak);
    this.pendingKey = null;
  }

  /** Forgets every key without touching the SecY (stop: the SAs went with deactivate()). */
  wipe(): void {
    for (const k of this.held()) zeroize(k.sak);
    this.latest = this.old = null;
    this.pendingKey = null;
  }

  /** The SecY refused the key: it is dropped and never taken again. Returns false if known already. */
  refuse(key: KeyState): boolean {
    if (this.refusedKis.has(key.kiHex)) return false;
    this.refusedKis.add(key.kiHex);
    if (key === this.pendingKey?.key) this.pendingKey = null;
    else {
      this.deleteKeySas(key);
      if (key === this.latest) this.latest = null;
      if (key === this.old) this.old = null;
    }
    zeroize(key.sak);
    return true;
  }

  setUnsecured(reason: string): void {
    if (!this.principal) return; // the port is the principal's
    const port = this.env.port;
    if (port.secured) this.env.out.events.push({ kind: 'unsecured', reason });
    port.secured = false;
    if (this.env.cfg.policy === 'must-secure') {
      if (port.enabled) {
        port.enabled = false;
        this.emit({ kind: 'setControlledPortEnabled', enabled: false });
      }
    } else {
      if (port.protectFrames || port.validate !== 'check') {
        port.protectFrames = false;
        port.validate = 'check';
        this.emit({ kind: 'setProtect', protectFrames: false, validate: 'check' });
      }
      if (!port.enabled) {
        port.enabled = true;
        this.emit({ kind: 'setControlledPortEnabled', enabled: true });
      }
    }
  }

  ensureRxSc(sci: string): void {
    if (!this.installs || this.rxScs.has(sci)) return;
    this.rxScs.add(sci);
    if (this.env.share.acquireRxSc(this, sci)) this.emit({ kind: 'createRxSc', sci });
    for (const k of [this.old, this.latest]) if (k) this.installRxSa(k, sci);
  }

  deleteRxSc(sci: string): void {
    if (!this.rxScs.has(sci)) return;
    for (const k of [this.old, this.latest]) {
      if (k?.rxScs.has(sci)) {
        this.emit({ kind: 'deleteRxSa', sci, an: k.an });
        k.rxScs.delete(sci);
      }
    }
    if (this.env.share.releaseRxSc(this, sci)) this.emit({ kind: 'deleteRxSc', sci });
    this.rxScs.delete(sci);
  }

  /** Deletes every key and lets go of every RX SC (principal change, successor dropped, retired). */
  dropAll(reason: string): void {
    this.dropKeys(reason);
    for (const sci of [...this.rxScs]) this.deleteRxSc(sci);
  }

  /** Changes of key use show here; evaluation repeats until it stays the same. */
  signature(): string {
    const k = (x: KeyState | null) => (x ? `${x.kiHex}:${x.rx ? 1 : 0}${x.tx ? 1 : 0}` : '-');
    return `${k(this.latest)}|${k(this.old)}`;
  }

  private emit(a: SecyAction): void {
    const r = this.host.role();
    if (r === 'principal' || (r !== 'standby' && !PRINCIPAL_ONLY.has(a.kind))) this.env.out.actions.push(a);
  }
}
