/**
 * One MKA participant (802.1X-2010 clause 9): one CAK/CKN, its MI/MN, live and potential peers,
 * key server election, SAK generation/distribution (as key server) or reception, and the key-use
 * part of the CP state machine (Figure 12-2: RECEIVE, RECEIVING, READY, TRANSMIT, TRANSMITTING,
 * RETIRE, ABANDON) for the principal participant. Pure: time comes in as `now`, effects go out
 * through env.out (MKPDUs, SecY actions, events).
 */
import {
  ALGORITHM_AGILITY_8021X_2010,
  CIPHER_SUITES,
  type CipherSuiteName,
  CONF_OFFSET_BY_CODE,
  MI_LEN,
  MKA_SAK_RETIRE_TIME_MS,
  PAE_GROUP_ADDRESS,
  cipherSuiteById,
} from './constants.js';
import { deriveIck, deriveKek, unwrapKey, verifyIcv, wrapKey, zeroize } from './crypto.js';
import { electKeyServer, type ElectionResult } from './election.js';
import { bytesEqual, toHex } from '../common/hex.js';
import type { KayCounters, KayParticipantStatus, MacsecPolicy, OutputSink, RekeyReason } from './kay-types.js';
import { encodeMkpdu, findSet } from './mkpdu.js';
import { type Peer, PeerTable, peerStatus, sciHex } from './peers.js';
import { type KeyState, ZERO_KI, confOffsetCode, generateKey, isXpn, keyStatus, kiEqual, kiHex, newKeyState, ssciOfListPosition } from './sak.js';
import type { SecyAction, SecyPnStatus } from './secy.js';
import type { DecodedMkpdu, DistributedSakParamSet, KeyIdentifier, Mac, ParamSet, PeerListParamSet, SakUseKey, SakUseParamSet, Sci } from './types.js';

/** Minimum spacing of MKPDUs sent promptly on a state change. */
export const PROMPT_MIN_SPACING_MS = 10;
/**
 * Delay of a "soft" prompt: a live peer lists us only as potential, so it needs to see our MKPDU
 * to count us live. Usually another MKPDU goes out first (e.g. carrying the SAK), making it moot.
 */
export const PROMPT_SOFT_DELAY_MS = 50;
const MN_MAX = 0xffffffff;
/** Keys (KIs) whose RX SA installs a participant remembers, to never install one twice. */
const MAX_REMEMBERED_RX_KIS = 64;

export interface ResolvedConfig {
  sci: Sci;
  sciHex: string;
  priority: number;
  cipherSuite: CipherSuiteName;
  policy: MacsecPolicy;
  confidentialityOffset: number | null;
  helloTimeMs: number;
  lifeTimeMs: number;
  rekeyPeriodMs: number;
  pnExhaustionThreshold: bigint;
  destination: Mac;
  eapolVersion: number;
  mkaVersion: number;
  random: (n: number) => Uint8Array;
}

/** State of the SecY's controlled port as driven by the principal participant. */
export interface PortState {
  enabled: boolean;
  protectFrames: boolean;
  validate: 'disabled' | 'check' | 'strict';
  cipherSuite: CipherSuiteName;
  confidentialityOffset: number | null;
  secured: boolean;
}

export interface Env {
  cfg: ResolvedConfig;
  port: PortState;
  counters: KayCounters;
  out: OutputSink;
}

interface KeyServerInfo {
  self: boolean;
  sciHex: string;
  miHex: string;
  priority: number;
}

export class Participant {
  readonly ckn: Uint8Array;
  readonly cknHex: string;
  private readonly cak: Uint8Array;
  private readonly kek: Uint8Array;
  private readonly ick: Uint8Array;

  mi: Uint8Array = new Uint8Array(MI_LEN);
  miHex = '';
  mn = 0;
  /** MNs we sent recently, for "acceptably recent" checks of our MI in peers' lists. */
  private sent: { mn: number; at: number }[] = [];

  readonly peers = new PeerTable();
  principal = false;
  private ks: KeyServerInfo | null = null;

  latest: KeyState | null = null;
  old: KeyState | null = null;
  /** Non key server: a distributed key that arrived while the previous one was still retiring. */
  private pendingKey: { key: KeyState; from: string } | null = null;
  /** RX SCs created for this participant (principal only), by SCI hex. */
  private readonly rxScs = new Set<string>();
  /**
   * SCIs (hex) that ever had an RX SA for a key, by KI hex (the most recent keys). An RX SA
   * starts its replay window at lowest PN 1, so a second RX SA for the same SCI and key would
   * accept again every frame received with the first one: never install one twice.
   */
  private readonly rxInstalled = new Map<string, Set<string>>();

  // Key server state
  private nextKn = 1;
  private nextAn = 0;
  private pendingRekey: RekeyReason | null = null;
  /** Keys (KI hex) the SecY refused to install: never installed again. */
  private readonly refusedKis = new Set<string>();
  /** After a SecY refusal, a key server waits this long before generating another SAK. */
  private generateNotBefore = -Infinity;

  // Transmission scheduling
  private lastSentAt = -Infinity;
  private nextHelloAt = Infinity;
  private promptAt: number | null = null;
  private softPromptAt: number | null = null;
  private lastNow = -Infinity;
  private started = false;

  constructor(
    private readonly env: Env,
    cak: Uint8Array,
    ckn: Uint8Array,
    readonly isPrimary: boolean,
  ) {
    this.cak = Uint8Array.from(cak);
    this.ckn = Uint8Array.from(ckn);
    this.cknHex = toHex(ckn);
    this.kek = deriveKek(this.cak, this.ckn);
    this.ick = deriveIck(this.cak, this.ckn);
    this.newMi(-Infinity, false);
  }

  private get cfg(): ResolvedConfig {
    return this.env.cfg;
  }
  private get out(): OutputSink {
    return this.env.out;
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  start(now: number): void {
    this.started = true;
    this.lastNow = now;
    this.promptAt = now;
    this.maybeSend(now);
  }

  /** Leave: forget peers and keys (the Kay deletes SAs and SCs through deactivate()). */
  stop(now: number): void {
    if (this.principal) this.deactivate(now, 'stopped');
    for (const k of [this.latest, this.old, this.pendingKey?.key]) if (k) zeroize(k.sak);
    this.latest = this.old = null;
    this.pendingKey = null;
    this.peers.clear();
    this.started = false;
  }

  destroy(): void {
    zeroize(this.cak, this.kek, this.ick);
  }

  hasLivePeers(): boolean {
    return this.peers.live().length > 0;
  }

  /** Becomes the principal participant: it now drives the SecY. */
  activate(now: number): void {
    if (this.principal) return;
    this.principal = true;
    for (const p of this.peers.live()) this.ensureRxSc(p.sciHex);
    this.lastNow = Math.max(this.lastNow, now);
    this.reelect();
    this.evaluate(now);
    this.urgent(now);
    this.maybeSend(now);
  }

  /** Stops being principal: its SAs and RX SCs go away. */
  deactivate(now: number, reason: string): void {
    if (!this.principal) return;
    this.dropKeys(reason);
    for (const sci of [...this.rxScs]) this.deleteRxSc(sci);
    this.principal = false;
    this.urgent(now);
    this.maybeSend(now);
  }

  // -------------------------------------------------------------------------------------------
  // Receive

  /** Processes a decoded MKPDU whose CKN is ours. Returns false when it was dropped. */
  handle(pdu: DecodedMkpdu, now: number): boolean {
    this.lastNow = now;
    const b = pdu.basic;
    const c = this.env.counters;
    if (b.algorithmAgility !== ALGORITHM_AGILITY_8021X_2010) {
      c.badAlgorithmAgility++;
      return this.drop(`algorithm agility 0x${b.algorithmAgility.toString(16)} not supported`);
    }
    if (!verifyIcv(this.ick, pdu.signed, pdu.icv)) {
      c.icvFailures++;
      return this.drop('ICV check failed');
    }
    if (!bytesEqual(pdu.dst, this.cfg.destination) && !bytesEqual(pdu.dst, PAE_GROUP_ADDRESS)) {
      return this.drop('destination is not our MKA address');
    }
    if (!this.started) return this.drop('participant not running');
    const peerSciHex = sciHex(b.sci);
    if (bytesEqual(b.actor.mi, this.mi)) {
      c.ownMi++;
      if (peerSciHex !== this.cfg.sciHex) {
        // Someone else uses our MI: choose a new one (802.1X-2010 9.4.2).
        this.newMi(now, true);
        return this.drop('peer uses our MI; selected a new MI');
      }
      return this.drop('our own MKPDU');
    }
    const miHex = toHex(b.actor.mi);
    let peer = this.peers.get(miHex);
    if (peer) {
      if (b.actor.mn <= peer.mn) {
        c.replays++;
        return this.drop(`replayed or stale MN ${b.actor.mn} (last ${peer.mn})`);
      }
    } else {
      peer = {
        mi: Uint8Array.from(b.actor.mi),
        miHex,
        mn: b.actor.mn,
        sci: { mac: Uint8Array.from(b.sci.mac), port: b.sci.port },
        sciHex: peerSciHex,
        priority: b.priority,
        keyServer: b.keyServer,
        macsecDesired: b.macsecDesired,
        macsecCapability: b.macsecCapability,
        live: false,
        expiresAt: now + this.cfg.lifeTimeMs,
        listsUsLive: false,
        sakUse: null,
        xpn: null,
      };
      if (!this.peers.add(peer)) {
        c.peerTableFull++;
        return this.drop('peer table full');
      }
      // A new potential peer: it must see its MI in our next MKPDU to count us live.
      this.urgent(now);
    }
    let liveChanged = false;
    const electionInputChanged = peer.live && (peer.priority !== b.priority || peer.keyServer !== b.keyServer || peer.sciHex !== peerSciHex);
    peer.mn = b.actor.mn;
    peer.priority = b.priority;
    peer.keyServer = b.keyServer;
    peer.macsecDesired = b.macsecDesired;
    peer.macsecCapability = b.macsecCapability;
    if (peer.sciHex !== peerSciHex) {
      peer.sci = { mac: Uint8Array.from(b.sci.mac), port: b.sci.port };
      peer.sciHex = peerSciHex;
    }
    if (!peer.live) peer.expiresAt = now + this.cfg.lifeTimeMs;

    // Does it list our MI with an acceptably recent MN?
    const liveList = findSet(pdu, 'livePeers');
    const potList = findSet(pdu, 'potentialPeers');
    const inLive = this.findSelf(liveList);
    const inPot = this.findSelf(potList);
    const listed = inLive ?? inPot;
    if (listed !== undefined && listed > this.mn) {
      // Our MI with an MN we never sent: another participant uses the same MI.
      this.newMi(now, true);
    } else if (listed !== undefined && this.acceptableMn(listed, now)) {
      peer.expiresAt = now + this.cfg.lifeTimeMs;
      peer.listsUsLive = inLive !== undefined && this.acceptableMn(inLive, now);
      if (!peer.live) {
        this.makeLive(peer, now);
        liveChanged = true;
      }
      if (!peer.listsUsLive) this.soft(now);
    }

    if (peer.live) {
      peer.sakUse = findSet(pdu, 'sakUse') ?? null;
      peer.xpn = findSet(pdu, 'xpn') ?? null;
      // A key it now reports receiving with is one its current MI holds.
      if (this.principal && this.rxScs.has(peer.sciHex)) for (const k of [this.old, this.latest]) if (k) this.installRxSa(k, peer.sciHex);
    }
    if (liveChanged || electionInputChanged) this.reelect();

    const dist = findSet(pdu, 'distributedSak');
    if (dist && peer.live && this.principal) this.receiveDistributedSak(dist, liveList, peer, now);

    this.env.counters.mkpdusAccepted++;
    this.evaluate(now);
    this.maybeSend(now);
    return true;
  }

  private drop(reason: string): false {
    this.env.counters.mkpdusDropped++;
    this.out.events.push({ kind: 'dropped', reason });
    return false;
  }

  /** MN listed for our current MI in a peer list, if any. */
  private findSelf(list: PeerListParamSet | undefined): number | undefined {
    if (!list) return undefined;
    for (const p of list.peers) if (bytesEqual(p.mi, this.mi)) return p.mn;
    return undefined;
  }

  /** An MN we sent within the last MKA_LIFE_TIME (802.1X-2010 9.4.3 "acceptably recent"). */
  private acceptableMn(mn: number, now: number): boolean {
    this.pruneSent(now);
    if (this.sent.length === 0) return false;
    return mn >= this.sent[0]!.mn && mn <= this.mn;
  }

  private pruneSent(now: number): void {
    // Keep the last two regardless of age (wpa_supplicant accepts the last two it sent).
    while (this.sent.length > 2 && this.sent[0]!.at < now - this.cfg.lifeTimeMs) this.sent.shift();
  }

  private makeLive(peer: Peer, now: number): void {
    // A new MI from an SCI we know is the same system after a restart: the old incarnation
    // is replaced once the new one has proven liveness (so replayed old MKPDUs cannot do this).
    // Its RX SC goes with it; the new RX SC gets no key of the old incarnation (installRxSa),
    // and the changed live set makes the key server distribute a new SAK (keyServerDuty).
    for (const other of this.peers.bySci(peer.sciHex)) {
      if (other !== peer) this.removePeer(other);
    }
    peer.live = true;
    peer.expiresAt = now + this.cfg.lifeTimeMs;
    this.out.events.push({ kind: 'peerLive', sci: peer.sciHex, mi: peer.miHex });
    if (this.principal) this.ensureRxSc(peer.sciHex);
  }

  private removePeer(peer: Peer): void {
    this.peers.delete(peer.miHex);
    if (!peer.live) return;
    this.env.counters.peersLost++;
    this.out.events.push({ kind: 'peerLost', sci: peer.sciHex, mi: peer.miHex });
    if (this.principal && this.peers.bySci(peer.sciHex).every((p) => !p.live)) this.deleteRxSc(peer.sciHex);
  }

  // -------------------------------------------------------------------------------------------
  // Timers

  tick(now: number, pn?: SecyPnStatus): void {
    this.lastNow = now;
    if (!this.started) return;
    if (pn) this.takePnStatus(pn);
    let liveChanged = false;
    for (const p of this.peers.all()) {
      if (now >= p.expiresAt) {
        if (p.live) liveChanged = true;
        this.removePeer(p);
      }
    }
    if (liveChanged) this.reelect();
    this.evaluate(now);
    this.maybeSend(now);
  }

  private takePnStatus(pn: SecyPnStatus): void {
    for (const k of [this.latest, this.old]) {
      if (!k) continue;
      const v = pn.txNextPn.get(k.an);
      if (v === undefined) continue;
      k.pnPrev = k.pnCur;
      k.pnCur = v;
      if (k.tx && !k.exhausted && v >= this.cfg.pnExhaustionThreshold) {
        k.exhausted = true;
        if (this.ks?.self && this.isOurKey(k)) this.requestRekey('pn-exhaustion');
        // Non key server: our SAK Use reports the PN; send it now so the key server reacts.
        this.urgent(this.lastNow);
      }
    }
  }

  /** Earliest time at which tick() has work to do. */
  deadline(): number {
    if (!this.started) return Infinity;
    const c: number[] = [this.nextHelloAt];
    if (this.promptAt !== null) c.push(this.promptAt);
    if (this.softPromptAt !== null) c.push(this.softPromptAt);
    for (const p of this.peers.all()) c.push(p.expiresAt);
    const L = this.latest;
    if (this.principal && L) {
      if (!L.tx && this.ks?.self) c.push(L.createdAt + this.cfg.lifeTimeMs);
      if (L.tx && L.txAt !== null) c.push(L.txAt + MKA_SAK_RETIRE_TIME_MS, L.txAt + this.cfg.lifeTimeMs);
    }
    const cur = this.currentTxKey();
    if (this.principal && this.ks?.self && cur && cur.txAt !== null && this.cfg.rekeyPeriodMs > 0) {
      c.push(cur.txAt + this.cfg.rekeyPeriodMs);
    }
    let d = Infinity;
    for (const t of c) if (t > this.lastNow && t < d) d = t;
    return d;
  }

  // -------------------------------------------------------------------------------------------
  // Election

  private reelect(): void {
    const live = this.peers.live();
    const res: ElectionResult = electKeyServer(
      { priority: this.cfg.priority, sciHex: this.cfg.sciHex, canBeKeyServer: true },
      live.map((p) => ({ priority: p.priority, sciHex: p.sciHex, keyServer: p.keyServer, miHex: p.miHex })),
    );
    let next: KeyServerInfo | null = null;
    if (live.length > 0 && res) {
      next = res.self
        ? { self: true, sciHex: this.cfg.sciHex, miHex: this.miHex, priority: this.cfg.priority }
        : { self: false, sciHex: res.winner.sciHex, miHex: res.winner.miHex, priority: res.winner.priority };
    }
    const prev = this.ks;
    this.ks = next;
    if (!next) return;
    if (!prev || prev.self !== next.self || prev.miHex !== next.miHex) {
      this.env.counters.keyServerChanges++;
      this.out.events.push({ kind: 'keyServerElected', sci: next.sciHex, self: next.self });
      if (this.pendingKey) zeroize(this.pendingKey.key.sak);
      this.pendingKey = null;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Key server

  private isOurKey(k: KeyState): boolean {
    return bytesEqual(k.ki.mi, this.mi);
  }

  private requestRekey(reason: RekeyReason): void {
    if (this.pendingRekey === null || this.pendingRekey === 'peer-change') this.pendingRekey = reason;
  }

  /** Key server: live peers that take part in MACsec. */
  private capablePeers(): Peer[] {
    return this.peers.live().filter((p) => p.macsecDesired && p.macsecCapability > 0);
  }

  /** The key our SecY transmits with (latest once it transmits, else old). */
  private currentTxKey(): KeyState | null {
    if (this.latest?.tx) return this.latest;
    if (this.old?.tx) return this.old;
    return this.old ?? null;
  }

  /** What the key server needs to do now, if anything. */
  private keyServerDuty(now: number): RekeyReason | 'initial' | null {
    const live = this.peers.live();
    if (live.length === 0 || this.capablePeers().length === 0) return null;
    const newest = this.latest ?? this.old;
    if (!newest) return 'initial';
    if (!this.isOurKey(newest)) return this.pendingRekey ?? 'peer-change'; // keys of a former key server
    if (this.pendingRekey) return this.pendingRekey;
    const members = newest.members;
    if (members.size !== live.length || live.some((p) => !members.has(p.miHex))) return 'peer-change';
    const cur = this.currentTxKey();
    if (cur && this.isOurKey(cur) && cur.txAt !== null && this.cfg.rekeyPeriodMs > 0 && now >= cur.txAt + this.cfg.rekeyPeriodMs && cur === newest) {
      return 'period';
    }
    // A peer reports a lowest PN beyond the threshold for the key in use.
    if (cur && this.isOurKey(cur) && !cur.exhausted) {
      for (const p of live) {
        const lpn = this.peerLowestPn(p, cur.ki);
        if (lpn !== null && lpn >= this.cfg.pnExhaustionThreshold) {
          cur.exhausted = true;
          return 'pn-exhaustion';
        }
      }
    }
    return null;
  }

  private peerLowestPn(p: Peer, ki: KeyIdentifier): bigint | null {
    const su = p.sakUse;
    if (!su || !su.hasKeys) return null;
    if (kiEqual(su.latest.ki, ki)) return (BigInt(p.xpn?.latestLowestPnHigh ?? 0) << 32n) | BigInt(su.latest.lowestPn >>> 0);
    if (kiEqual(su.old.ki, ki)) return (BigInt(p.xpn?.oldLowestPnHigh ?? 0) << 32n) | BigInt(su.old.lowestPn >>> 0);
    return null;
  }

  /** Confidentiality offset the key server uses, limited by the live peers' capabilities. */
  private chooseOffset(peers: readonly Peer[]): number | null {
    let off = this.cfg.confidentialityOffset;
    for (const p of peers) {
      if (p.macsecCapability === 1) off = null;
      else if (p.macsecCapability === 2 && off !== null && off !== 0) off = 0;
    }
    return off;
  }

  private generateSak(now: number, reason: RekeyReason | 'initial'): void {
    if (this.latest && !this.latest.tx) this.abandon(now);
    const live = this.peers.live();
    let an = this.nextAn;
    if (this.old && this.old.an === an) an = (an + 1) & 3;
    const kn = this.nextKn;
    this.nextKn = this.nextKn >= MN_MAX ? 1 : this.nextKn + 1;
    this.nextAn = (an + 1) & 3;
    const key = generateKey({
      cak: this.cak,
      keyServerMi: this.mi,
      memberMis: live.map((p) => p.mi),
      memberMiHex: live.map((p) => p.miHex),
      memberScis: [this.cfg.sciHex, ...live.map((p) => p.sciHex)],
      kn,
      an,
      cipherSuite: this.cfg.cipherSuite,
      confidentialityOffset: this.chooseOffset(this.capablePeers()),
      random: this.cfg.random,
      now,
    });
    const replaced = this.latest !== null || this.old !== null;
    this.pendingRekey = null;
    this.env.counters.saksGenerated++;
    if (replaced && reason !== 'initial') {
      this.env.counters.rekeys++;
      this.out.events.push({ kind: 'rekey', reason, kn });
    }
    this.receiveKey(key, now);
  }

  // -------------------------------------------------------------------------------------------
  // Non key server: Distributed SAK

  private receiveDistributedSak(set: DistributedSakParamSet, liveList: PeerListParamSet | undefined, from: Peer, now: number): void {
    if (!this.ks || this.ks.self || this.ks.miHex !== from.miHex) {
      this.out.events.push({ kind: 'dropped', reason: 'Distributed SAK from a participant that is not our key server ignored' });
      return;
    }
    if (set.plain) {
      this.dropKeys('key server advises not to use MACsec');
      return;
    }
    const suite: CipherSuiteName | undefined = set.cipherSuite === null ? 'GCM-AES-128' : cipherSuiteById(set.cipherSuite);
    if (!suite) {
      this.out.events.push({ kind: 'dropped', reason: `Distributed SAK with unsupported cipher suite 0x${set.cipherSuite!.toString(16)}` });
      return;
    }
    const ki: KeyIdentifier = { mi: from.mi, kn: set.kn };
    for (const k of [this.latest, this.old, this.pendingKey?.key]) if (k && kiEqual(k.ki, ki)) return; // already have it
    if (this.refusedKis.has(kiHex(ki))) return; // the SecY refused it before
    const keyLen = CIPHER_SUITES[suite].keyLen;
    if (set.wrappedSak.length !== keyLen + 8) {
      this.out.events.push({ kind: 'dropped', reason: `Distributed SAK wrap of ${set.wrappedSak.length} octets does not fit ${suite}` });
      return;
    }
    const sak = unwrapKey(this.kek, set.wrappedSak);
    if (!sak) {
      this.out.events.push({ kind: 'dropped', reason: 'Distributed SAK failed to unwrap' });
      return;
    }
    const offset = CONF_OFFSET_BY_CODE[set.confidentialityOffset] ?? null;
    // XPN: SSCIs from the key server's Live Peer List order and its own SSCI (octet 2).
    const ssci = new Map<string, number>();
    if (isXpn(suite)) {
      const ksSsci = liveList?.keyServerSsci ?? 0;
      if (ksSsci === 0 || !liveList) {
        zeroize(sak);
        this.out.events.push({ kind: 'dropped', reason: 'XPN Distributed SAK without a key server SSCI' });
        return;
      }
      ssci.set(from.sciHex, ksSsci);
      liveList.peers.forEach((e, i) => {
        const s = ssciOfListPosition(i, ksSsci);
        if (bytesEqual(e.mi, this.mi)) ssci.set(this.cfg.sciHex, s);
        else {
          const p = this.peers.get(toHex(e.mi));
          if (p) ssci.set(p.sciHex, s);
        }
      });
      if (!ssci.has(this.cfg.sciHex)) {
        zeroize(sak);
        this.out.events.push({ kind: 'dropped', reason: 'XPN Distributed SAK: our MI is not in the key server Live Peer List' });
        return;
      }
    }
    const key = newKeyState({
      ki: { mi: Uint8Array.from(from.mi), kn: set.kn },
      an: set.an,
      sak,
      cipherSuite: suite,
      confidentialityOffset: offset,
      members: new Set(),
      // The MIs it was distributed to: the key server's Live Peer List in this MKPDU.
      holders: (liveList?.peers ?? []).map((e) => toHex(e.mi)),
      ssci,
      now,
    });
    this.env.counters.saksReceived++;
    if (this.latest?.tx && this.old) {
      // TRANSMITTING: the new key waits until the old one retires (Figure 12-2).
      if (this.pendingKey) zeroize(this.pendingKey.key.sak);
      this.pendingKey = { key, from: from.miHex };
      return;
    }
    if (this.latest && !this.latest.tx) this.abandon(now);
    this.receiveKey(key, now);
  }

  // -------------------------------------------------------------------------------------------
  // CP: key use

  /** RECEIVE: install RX SAs on every RX SC and a (not yet enabled) TX SA, then report lrx. */
  private receiveKey(key: KeyState, now: number): void {
    if (this.old && this.old.an === key.an) {
      // A key server reusing the AN of the key still in use leaves no room for both.
      this.deleteKeySas(this.old);
      zeroize(this.old.sak);
      this.old = null;
    }
    const port = this.env.port;
    if (port.cipherSuite !== key.cipherSuite || port.confidentialityOffset !== key.confidentialityOffset) {
      port.cipherSuite = key.cipherSuite;
      port.confidentialityOffset = key.confidentialityOffset;
      this.emit({ kind: 'setCipherSuite', cipherSuite: key.cipherSuite, confidentialityOffset: key.confidentialityOffset });
    }
    this.latest = key;
    for (const sci of this.rxScs) this.installRxSa(key, sci);
    const tx: SecyAction = { kind: 'installTxSa', an: key.an, nextPn: 1n, ki: key.kiHex, sak: Uint8Array.from(key.sak) };
    if (key.salt) {
      tx.ssci = key.ssci.get(this.cfg.sciHex) ?? 0;
      tx.salt = Uint8Array.from(key.salt);
    }
    this.emit(tx);
    key.rx = true;
    this.out.events.push({ kind: 'sakInstalled', ki: key.kiHex, an: key.an, role: 'rx' });
    this.urgent(now);
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
    if (!this.peers.live().some((p) => p.sciHex === sci && this.holdsKey(p, key))) return;
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

  /** The peer's current MI holds the key: distributed to it, or reported in its SAK Use. */
  private holdsKey(p: Peer, key: KeyState): boolean {
    if (key.holders.has(p.miHex)) return true;
    const su = p.sakUse;
    if (!su?.hasKeys) return false;
    return (su.latest.rx && kiEqual(su.latest.ki, key.ki)) || (su.old.rx && kiEqual(su.old.ki, key.ki));
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

  /** TRANSMIT (and TRANSMITTING): switch transmission to the latest key. */
  private transmit(now: number): void {
    const key = this.latest!;
    this.emit({ kind: 'enableTxSa', an: key.an, enable: true });
    key.tx = true;
    key.txAt = now;
    if (this.old) this.old.tx = false;
    const port = this.env.port;
    const validate = this.cfg.policy === 'must-secure' ? 'strict' : 'check';
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
    this.out.events.push({ kind: 'sakInstalled', ki: key.kiHex, an: key.an, role: 'tx' });
    this.out.events.push({ kind: 'secured', ki: key.kiHex });
    this.urgent(now);
  }

  /** RETIRE: the old key goes, the latest becomes the old one. */
  private retire(now: number): void {
    if (this.old) {
      this.deleteKeySas(this.old);
      zeroize(this.old.sak);
    }
    this.old = this.latest;
    this.latest = null;
    this.urgent(now);
    if (this.pendingKey) {
      const { key } = this.pendingKey;
      this.pendingKey = null;
      this.receiveKey(key, now);
    }
  }

  /** ABANDON: a latest key that never transmitted is dropped for a newer one. */
  private abandon(now: number): void {
    const k = this.latest!;
    this.deleteKeySas(k);
    zeroize(k.sak);
    this.latest = null;
    this.urgent(now);
  }

  private deleteKeySas(k: KeyState): void {
    for (const sci of k.rxScs) {
      if (this.rxScs.has(sci)) this.emit({ kind: 'deleteRxSa', sci, an: k.an });
    }
    k.rxScs.clear();
    this.emit({ kind: 'deleteTxSa', an: k.an });
  }

  /** Deletes every key (no live peers left, principal change, key server advises plain). */
  private dropKeys(reason: string): void {
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

  private setUnsecured(reason: string): void {
    const port = this.env.port;
    if (port.secured) this.out.events.push({ kind: 'unsecured', reason });
    port.secured = false;
    if (this.cfg.policy === 'must-secure') {
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

  private ensureRxSc(sci: string): void {
    if (!this.principal || this.rxScs.has(sci)) return;
    this.rxScs.add(sci);
    this.emit({ kind: 'createRxSc', sci });
    for (const k of [this.old, this.latest]) if (k) this.installRxSa(k, sci);
  }

  private deleteRxSc(sci: string): void {
    if (!this.rxScs.has(sci)) return;
    for (const k of [this.old, this.latest]) {
      if (k?.rxScs.has(sci)) {
        this.emit({ kind: 'deleteRxSa', sci, an: k.an });
        k.rxScs.delete(sci);
      }
    }
    this.emit({ kind: 'deleteRxSc', sci });
    this.rxScs.delete(sci);
  }

  private emit(a: SecyAction): void {
    if (this.principal) this.out.actions.push(a);
  }

  /** Every live peer that takes part in MACsec and is a member of the key reports receiving it. */
  private allReceiving(key: KeyState): boolean {
    for (const p of this.capablePeers()) {
      if (!key.members.has(p.miHex)) continue;
      const su = p.sakUse;
      if (!su || !su.hasKeys) return false;
      const ok = (su.latest.rx && kiEqual(su.latest.ki, key.ki)) || (su.old.rx && kiEqual(su.old.ki, key.ki));
      if (!ok) return false;
    }
    return true;
  }

  /** Every live MACsec-capable peer reports an RX SA for the key. */
  private allPeersReceiving(key: KeyState): boolean {
    for (const p of this.capablePeers()) {
      const su = p.sakUse;
      if (!su || !su.hasKeys) return false;
      if (!((su.latest.rx && kiEqual(su.latest.ki, key.ki)) || (su.old.rx && kiEqual(su.old.ki, key.ki)))) return false;
    }
    return true;
  }

  /** The key server reports transmitting with the key (as latest, or already retired to old). */
  private serverTransmitting(key: KeyState): boolean {
    if (!this.ks || this.ks.self) return false;
    const su = this.peers.get(this.ks.miHex)?.sakUse;
    if (!su || !su.hasKeys) return false;
    return (su.latest.tx && kiEqual(su.latest.ki, key.ki)) || (su.old.tx && kiEqual(su.old.ki, key.ki));
  }

  /** Some live peer still transmits with the key. */
  private peersTransmitting(key: KeyState): boolean {
    for (const p of this.peers.live()) {
      const su = p.sakUse;
      if (!su || !su.hasKeys) continue;
      if ((su.latest.tx && kiEqual(su.latest.ki, key.ki)) || (su.old.tx && kiEqual(su.old.ki, key.ki))) return true;
    }
    return false;
  }

  /**
   * Runs the key-use state machine until nothing changes. A key server generates a SAK only
   * when an MKPDU goes out (`generate`), so that membership changes arriving together (pairwise
   * liveness of several peers in one burst) lead to one SAK, not one per peer.
   */
  private evaluate(now: number, generate = false): void {
    if (!this.principal || !this.started) return;
    if (this.peers.live().length === 0) {
      if (this.latest || this.old) this.dropKeys('no live peers');
      this.pendingRekey = null;
      return;
    }
    if (this.capablePeers().length === 0) {
      // should-secure: back to unprotected; must-secure: the port stays closed
      if (this.latest || this.old) this.dropKeys('no MACsec-capable live peers');
      this.pendingRekey = null;
      return;
    }
    for (let i = 0; i < 8; i++) {
      const before = this.stateSignature();
      this.stepRetire(now);
      if (this.ks?.self && now >= this.generateNotBefore) {
        const duty = this.keyServerDuty(now);
        if (duty) {
          if (this.latest?.tx && this.old) {
            if (duty !== 'initial') this.requestRekey(duty); // TRANSMITTING: wait for RETIRE
          } else if (generate) {
            this.generateSak(now, duty);
          } else {
            if (duty !== 'initial') this.requestRekey(duty);
            this.urgent(now);
          }
        }
      }
      const L = this.latest;
      if (L && !L.tx) {
        if (this.ks?.self && this.isOurKey(L)) {
          if (this.allReceiving(L) || now >= L.createdAt + this.cfg.lifeTimeMs) this.transmit(now);
        } else if (this.ks && !this.ks.self && toHex(L.ki.mi) === this.ks.miHex) {
          // READY: a key goes into use when the key server transmits with it. The first key
          // (controlled port not yet secured) already when every live peer reports receiving
          // it: Figure 12-2 lets it go at once, we wait until no peer can miss our frames.
          if (this.serverTransmitting(L) || (!this.env.port.secured && this.allPeersReceiving(L))) this.transmit(now);
        }
      }
      this.stepRetire(now);
      if (this.stateSignature() === before) break;
    }
  }

  private stepRetire(now: number): void {
    const L = this.latest;
    if (!L || !L.tx || L.txAt === null) return;
    if (!this.old) {
      this.retire(now);
      return;
    }
    if (now < L.txAt + MKA_SAK_RETIRE_TIME_MS) return;
    if (this.peersTransmitting(this.old) && now < L.txAt + this.cfg.lifeTimeMs) return;
    this.retire(now);
  }

  private stateSignature(): string {
    const k = (x: KeyState | null) => (x ? `${x.kiHex}:${x.rx ? 1 : 0}${x.tx ? 1 : 0}` : '-');
    return `${k(this.latest)}|${k(this.old)}|${this.pendingRekey ?? ''}`;
  }

  // -------------------------------------------------------------------------------------------
  // Transmit

  private urgent(now: number): void {
    const at = Math.max(now, this.lastSentAt + PROMPT_MIN_SPACING_MS);
    if (this.promptAt === null || at < this.promptAt) this.promptAt = at;
  }

  private soft(now: number): void {
    const at = now + PROMPT_SOFT_DELAY_MS;
    if (this.softPromptAt === null || at < this.softPromptAt) this.softPromptAt = at;
  }

  private maybeSend(now: number): void {
    if (!this.started) return;
    const due = now >= this.nextHelloAt || (this.promptAt !== null && now >= this.promptAt) || (this.softPromptAt !== null && now >= this.softPromptAt);
    if (!due) return;
    this.evaluate(now, true);
    const frame = this.buildMkpdu(now);
    this.out.frames.push(frame);
    this.env.counters.mkpdusSent++;
    this.lastSentAt = now;
    this.nextHelloAt = now + this.cfg.helloTimeMs;
    this.promptAt = null;
    this.softPromptAt = null;
  }

  private newMi(now: number, emitEvent: boolean): void {
    this.mi = this.cfg.random(MI_LEN).slice(0, MI_LEN);
    this.miHex = toHex(this.mi);
    this.mn = 0;
    this.sent = [];
    if (emitEvent) {
      this.env.counters.miChanges++;
      this.urgent(now);
    }
  }

  private buildMkpdu(now: number): Uint8Array {
    if (this.mn >= MN_MAX) this.newMi(now, true);
    this.mn += 1;
    this.sent.push({ mn: this.mn, at: now });
    this.pruneSent(now);
    const cfg = this.cfg;
    const sets: ParamSet[] = [];
    const live = this.peers.live();
    const pot = this.peers.potential();
    if (live.length > 0) sets.push({ type: 'livePeers', keyServerSsci: this.keyServerSsciOctet(), peers: live.map((p) => ({ mi: p.mi, mn: p.mn })) });
    if (pot.length > 0) sets.push({ type: 'potentialPeers', keyServerSsci: 0, peers: pot.map((p) => ({ mi: p.mi, mn: p.mn })) });
    const withSakUse = this.principal && live.length > 0 && (this.latest !== null || this.old !== null);
    if (withSakUse) sets.push(this.sakUseSet());
    const dist = this.distributedSakSet();
    if (dist) sets.push(dist);
    if (withSakUse && ((this.latest && isXpn(this.latest.cipherSuite)) || (this.old && isXpn(this.old.cipherSuite)))) {
      sets.push({
        type: 'xpn',
        suspendedFor: 0,
        latestLowestPnHigh: Number((this.lowestPn(this.latest) >> 32n) & 0xffffffffn),
        oldLowestPnHigh: Number((this.lowestPn(this.old) >> 32n) & 0xffffffffn),
      });
    }
    return encodeMkpdu(
      {
        dst: cfg.destination,
        src: cfg.sci.mac,
        eapolVersion: cfg.eapolVersion,
        basic: {
          type: 'basic',
          version: cfg.mkaVersion,
          priority: cfg.priority,
          // Set unless we decided another participant is (or will be) the key server.
          keyServer: this.ks ? this.ks.self : true,
          macsecDesired: true,
          macsecCapability: 3,
          sci: cfg.sci,
          actor: { mi: this.mi, mn: this.mn },
          algorithmAgility: ALGORITHM_AGILITY_8021X_2010,
          ckn: this.ckn,
        },
        sets,
        icvIndicator: false,
      },
      this.ick,
    );
  }

  /** Octet 2 of our Live Peer List: our SSCI (LSB) when we are the key server of an XPN key. */
  private keyServerSsciOctet(): number {
    if (!this.ks?.self) return 0;
    const k = this.latest ?? this.old;
    if (!k || !isXpn(k.cipherSuite) || !this.isOurKey(k)) return 0;
    return (k.ssci.get(this.cfg.sciHex) ?? 0) & 0xff;
  }

  private lowestPn(k: KeyState | null): bigint {
    if (!k) return 0n;
    return k.pnCur > 1n ? k.pnCur - 1n : 1n;
  }

  private sakUseSet(): SakUseParamSet {
    const key = (k: KeyState | null): SakUseKey =>
      k
        ? { an: k.an, tx: k.tx, rx: k.rx, ki: k.ki, lowestPn: Number(this.lowestPn(k) & 0xffffffffn) }
        : { an: 0, tx: false, rx: false, ki: ZERO_KI, lowestPn: 0 };
    const port = this.env.port;
    return {
      type: 'sakUse',
      plainTx: !port.protectFrames,
      plainRx: port.validate !== 'strict',
      delayProtect: false,
      reservedBit: false,
      hasKeys: true,
      latest: key(this.latest),
      old: key(this.old),
    };
  }

  /** Key server: the Distributed SAK, while a live member has not confirmed it yet. */
  private distributedSakSet(): DistributedSakParamSet | null {
    if (!this.principal || !this.ks?.self) return null;
    const k = this.latest ?? this.old;
    if (!k || !this.isOurKey(k)) return null;
    const live = this.peers.live();
    // Only while the key's member set is the live set (else a new key is on its way), so that
    // the Live Peer List in the same MKPDU conveys the right SSCIs.
    if (k.members.size !== live.length || live.some((p) => !k.members.has(p.miHex))) return null;
    if (this.allReceiving(k)) return null;
    return {
      type: 'distributedSak',
      an: k.an,
      confidentialityOffset: confOffsetCode(k.confidentialityOffset),
      plain: false,
      kn: k.ki.kn,
      cipherSuite: k.cipherSuite === 'GCM-AES-128' ? null : CIPHER_SUITES[k.cipherSuite].id,
      wrappedSak: wrapKey(this.kek, k.sak),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Commands and status

  /**
   * The SecY refused an action of ours (e.g. the kernel rejected an SA). A key whose receive or
   * transmit SA could not be installed is dropped and never installed again, so our MKPDUs stop
   * claiming to receive with it and no key server switches to a key we cannot use; a key server
   * waits one life time before trying a new SAK. Failures of deletes and port settings change
   * nothing here. Returns the KI of the dropped key, if any.
   */
  secyFailed(a: SecyAction, error: string, now: number): string | null {
    const keys = [this.latest, this.old, this.pendingKey?.key].filter((k): k is KeyState => !!k);
    let key: KeyState | undefined;
    if (a.kind === 'installRxSa' || a.kind === 'installTxSa') key = keys.find((k) => k.kiHex === a.ki);
    else if ((a.kind === 'enableRxSa' || a.kind === 'enableTxSa') && a.enable) key = keys.find((k) => k.an === a.an);
    if (!key || this.refusedKis.has(key.kiHex)) return null;
    this.refusedKis.add(key.kiHex);
    this.generateNotBefore = now + this.cfg.lifeTimeMs;
    if (key === this.pendingKey?.key) this.pendingKey = null;
    else {
      this.deleteKeySas(key);
      if (key === this.latest) this.latest = null;
      if (key === this.old) this.old = null;
    }
    zeroize(key.sak);
    if (!this.latest?.tx && !this.old?.tx) this.setUnsecured(`SecY refused key ${key.kiHex} (${a.kind}: ${error})`);
    this.urgent(now);
    this.maybeSend(now);
    return key.kiHex;
  }

  forceRekey(now: number): string | null {
    if (!this.principal) return 'not the principal participant';
    if (!this.ks?.self) return 'not the key server';
    if (this.capablePeers().length === 0) return 'no live MACsec-capable peers';
    this.pendingRekey = 'forced';
    this.evaluate(now, true);
    this.maybeSend(now);
    return null;
  }

  status(): KayParticipantStatus {
    return {
      ckn: this.cknHex,
      principal: this.principal,
      mi: this.miHex,
      mn: this.mn,
      keyServer: this.ks ? { sci: this.ks.sciHex, mi: this.ks.self ? this.miHex : this.ks.miHex, self: this.ks.self, priority: this.ks.priority } : null,
      livePeers: this.peers.live().map(peerStatus),
      potentialPeers: this.peers.potential().map(peerStatus),
      latestKey: keyStatus(this.latest),
      oldKey: keyStatus(this.old),
    };
  }
}
