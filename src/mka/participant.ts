/**
 * One MKA participant (802.1X-2010 clause 9): one CAK/CKN. This module is the state machine that
 * ties the parts together: it takes MKPDUs and time in, keeps liveness (liveness.ts), runs the
 * election and the key server's decisions (key-server.ts), opens Distributed SAKs
 * (distributed-sak.ts), drives key use for the principal participant (key-use.ts) and sends
 * MKPDUs when tx-schedule.ts says so (mkpdu-build.ts). Pure: time comes in as `now`, effects go
 * out through env.out (MKPDUs, SecY actions, events).
 */
import { ALGORITHM_AGILITY_8021X_2010, MKA_BOUNDED_HELLO_TIME_MS, MKA_SAK_RETIRE_TIME_MS, MKA_SUSPENSION_LIMIT_MS, PAE_GROUP_ADDRESS } from './constants.js';
import { deriveIck, deriveKek, verifyIcv, zeroize } from './crypto.js';
import { openDistributedSak } from './distributed-sak.js';
import { bytesEqual, toHex } from '../common/hex.js';
import type { KayParticipantStatus, OutputSink, RekeyReason } from './kay-types.js';
import {
  type KeyServerInfo,
  KeyServerState,
  type KeyServerView,
  capablePeers,
  currentTxKey,
  distributedSakSet,
  electedKeyServer,
  isKeyOf,
  keyServerSsciOctet,
  meshComplete,
} from './key-server.js';
import { KeyUse, type SecyRole } from './key-use.js';
import { Actor, newPeer, refreshPeer } from './liveness.js';
import { buildMkpdu } from './mkpdu-build.js';
import { findSet } from './mkpdu.js';
import type { Env, ResolvedConfig } from './participant-env.js';
import { MAX_PEERS, type Peer, PeerTable, peerStatus, sciHex } from './peers.js';
import { type KeyState, keyStatus, samplePn } from './sak.js';
import { anyTransmitting, reportsRx, sakUseSet, xpnSet } from './sak-use.js';
import type { SecyAction, SecyPnStatus } from './secy.js';
import { TxSchedule } from './tx-schedule.js';
import type { DecodedMkpdu, DistributedSakParamSet, KeyIdentifier, MemberId, PeerListParamSet } from './types.js';

/**
 * How long a key server waits after a live-set change for every member to list every other
 * before it makes the SAK anyway (then it makes another once they do, see meshComplete).
 */
export const MESH_HOLD_MS = MKA_BOUNDED_HELLO_TIME_MS;

/** What a participant asks of its KaY. */
export interface ParticipantHost {
  /** A successor whose key may go into use: make it principal now (true when done). */
  takeOver(p: Participant, now: number): boolean;
}

export class Participant {
  readonly ckn: Uint8Array;
  readonly cknHex: string;
  private readonly cak: Uint8Array;
  private readonly kek: Uint8Array;
  private readonly ick: Uint8Array;

  private readonly actor: Actor;
  readonly peers = new PeerTable();
  principal = false;
  /** A newer CA getting ready to take over from the principal (make before break). */
  private successor = false;
  /** When it handed over to a successor: it keeps receiving with its keys for a while. */
  private retiringSince: number | null = null;
  /** Its KaY removes it once it holds no SA (replaced by a newer CAK, or removed). */
  replaced = false;
  /** In-service suspension announced (seconds): the next MKPDU says so, then we go quiet. */
  private suspendFor = 0;
  private ks: KeyServerInfo | null = null;
  private readonly server = new KeyServerState();
  private readonly keys: KeyUse;
  private readonly schedule: TxSchedule;
  private lastNow = -Infinity;
  private started = false;
  /** MIs our live peers list that we never heard, with when we first saw them listed. */
  private readonly relayed = new Map<string, number>();
  /** MIs we removed (expired or replaced by a restart), not relayed again until then. */
  private readonly forgotten = new Map<string, number>();
  private liveChangedAt = -Infinity;
  /** When the SecY's PNs were last read (tick() with a PN status): at least once per hello time. */
  private lastPnAt = -Infinity;

  constructor(
    private readonly env: Env,
    cak: Uint8Array,
    ckn: Uint8Array,
    readonly isPrimary: boolean,
    private readonly host: ParticipantHost = { takeOver: () => false },
  ) {
    this.cak = Uint8Array.from(cak);
    this.ckn = Uint8Array.from(ckn);
    this.cknHex = toHex(ckn);
    this.kek = deriveKek(this.cak, this.ckn);
    this.ick = deriveIck(this.cak, this.ckn);
    this.actor = new Actor(env.cfg.lifeTimeMs, env.cfg.random);
    this.schedule = new TxSchedule(env.cfg.helloTimeMs);
    this.keys = new KeyUse({
      env,
      peers: this.peers,
      schedule: this.schedule,
      role: () => this.role,
      takeOver: (now) => this.host.takeOver(this, now),
    });
    env.share.join(this.keys);
  }

  get role(): SecyRole {
    if (this.principal) return 'principal';
    if (this.successor) return 'successor';
    return this.retiringSince !== null ? 'retiring' : 'standby';
  }

  /** Holds SAs on the SecY (or may install them). */
  get keyed(): boolean {
    return this.role !== 'standby';
  }

  /** May take keys: the principal and a successor. */
  private get keying(): boolean {
    return this.principal || this.successor;
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
    this.schedule.promptNow(now);
    this.maybeSend(now);
  }

  /** Leave: deletes its SAs and SCs, forgets peers and keys. */
  stop(now: number): void {
    if (this.principal) this.deactivate(now, 'stopped');
    else if (this.keyed) this.keys.dropAll('stopped');
    this.successor = false;
    this.retiringSince = null;
    this.keys.wipe();
    this.peers.clear();
    this.started = false;
  }

  destroy(): void {
    this.env.share.leave(this.keys);
    zeroize(this.cak, this.kek, this.ick);
  }

  hasLivePeers(): boolean {
    return this.peers.live().length > 0;
  }

  /** Becomes the principal participant: it now drives the SecY. */
  activate(now: number): void {
    if (this.principal) return;
    this.principal = true;
    this.successor = false;
    this.retiringSince = null;
    for (const p of this.peers.live()) this.keys.ensureRxSc(p.sciHex);
    this.lastNow = Math.max(this.lastNow, now);
    this.reelect();
    this.evaluate(now);
    this.schedule.urgent(now);
    this.maybeSend(now);
  }

  /** Stops being principal: its SAs and RX SCs go away. */
  deactivate(now: number, reason: string): void {
    if (!this.principal) return;
    this.keys.dropAll(reason);
    this.principal = false;
    this.schedule.urgent(now);
    this.maybeSend(now);
  }

  /**
   * Becomes (or stops being) the successor: a newer CA that runs its key agreement beside the
   * principal's and installs its SAK for receive on the shared RX SCs under another AN; once the
   * key may go into use it takes over (ParticipantHost.takeOver). No longer successor: its SAs go.
   */
  setSuccessor(on: boolean, now: number): void {
    if (this.principal || on === this.successor) return;
    if (!on) {
      this.keys.dropAll('no longer the successor');
      this.successor = false;
      return;
    }
    if (this.retiringSince !== null) {
      this.keys.dropAll('retired');
      this.retiringSince = null;
    }
    this.successor = true;
    this.lastNow = Math.max(this.lastNow, now);
    for (const p of this.peers.live()) this.keys.ensureRxSc(p.sciHex);
    this.reelect();
    this.evaluate(now);
    this.schedule.urgent(now);
    this.maybeSend(now);
  }

  /** SCIs of the live peers. */
  liveScis(): Set<string> {
    return new Set(this.peers.live().map((p) => p.sciHex));
  }

  /** SCIs of the live peers that report receiving with our latest key. */
  scisReceivingLatest(): Set<string> {
    const L = this.keys.latest;
    if (!L) return new Set();
    return new Set(
      this.peers
        .live()
        .filter((p) => reportsRx(p.sakUse, L.ki))
        .map((p) => p.sciHex),
    );
  }

  /** Successor to principal, as part of its key going into use (no SecY action of its own). */
  promote(): void {
    this.successor = false;
    this.retiringSince = null;
    this.principal = true;
  }

  /** The principal hands over: it stops transmitting and keeps its keys for receive, for now. */
  handOver(now: number): void {
    if (!this.principal) return;
    this.principal = false;
    this.retiringSince = now;
    this.keys.stopTransmitting();
    this.schedule.urgent(now);
  }

  /**
   * A retiring participant lets its keys go once its peers are done with them: after the retire
   * time, when no live peer still reports transmitting with one, at the latest a life time after
   * the handover.
   */
  private stepRetiring(now: number): void {
    const since = this.retiringSince!;
    if (now < since + MKA_SAK_RETIRE_TIME_MS) return;
    const keys = [this.keys.latest, this.keys.old].filter((k) => k !== null);
    const live = this.peers.live();
    if (keys.some((k) => anyTransmitting(live, k)) && now < since + this.cfg.lifeTimeMs) return;
    this.keys.dropAll('retired: the new CA is in use');
    this.retiringSince = null;
    this.schedule.urgent(now);
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
    if (bytesEqual(b.actor.mi, this.actor.mi)) {
      c.ownMi++;
      if (peerSciHex !== this.cfg.sciHex) {
        // Someone else uses our MI: choose a new one (802.1X-2010 9.4.2).
        this.newMi(now, true);
        return this.drop('peer uses our MI; selected a new MI');
      }
      return this.drop('our own MKPDU');
    }
    let peer = this.peers.get(toHex(b.actor.mi));
    if (peer) {
      if (b.actor.mn <= peer.mn) {
        c.replays++;
        return this.drop(`replayed or stale MN ${b.actor.mn} (last ${peer.mn})`);
      }
    } else {
      peer = newPeer(b, peerSciHex, now + this.cfg.lifeTimeMs, now);
      if (!this.peers.add(peer)) {
        c.peerTableFull++;
        return this.drop('peer table full');
      }
      // A new potential peer: it must see its MI in our next MKPDU to count us live.
      this.schedule.urgent(now);
    }
    const electionInputChanged = refreshPeer(peer, b, peerSciHex);
    if (!peer.live) peer.expiresAt = now + this.cfg.lifeTimeMs;

    let liveChanged = false;
    const liveList = findSet(pdu, 'livePeers');
    const listing = this.actor.listing(liveList, findSet(pdu, 'potentialPeers'), now);
    if (listing.kind === 'collision') {
      this.newMi(now, true);
    } else if (listing.kind === 'listed') {
      // Live for a life time after this MKPDU, but never longer than a life time plus a hello time
      // after we sent the newest MN it confirmed (9.4.3: removed between the two): a peer that no
      // longer hears us goes within 8 s even while we still hear it.
      const { lifeTimeMs, helloTimeMs } = this.cfg;
      const until = Math.min(now + lifeTimeMs, listing.sentAt + lifeTimeMs + helloTimeMs);
      peer.expiresAt = peer.live ? Math.max(peer.expiresAt, until) : until;
      peer.listsUsLive = listing.live;
      if (!peer.live) {
        this.makeLive(peer, now);
        liveChanged = true;
      }
      if (!peer.listsUsLive) this.schedule.soft(now);
      // In-service suspension (802.1Xbx, XPN set octet 2): a live peer that says it stops sending
      // MKPDUs for S seconds keeps its place (and its SAs) that long, up to our limit.
      const suspendS = findSet(pdu, 'xpn')?.suspendedFor ?? 0;
      if (suspendS > 0 && peer.live) peer.expiresAt = Math.max(peer.expiresAt, now + Math.min(suspendS * 1000, MKA_SUSPENSION_LIMIT_MS));
    }

    if (peer.live) {
      // An MKPDU without SAK Use (see quiet()) leaves the peer's last report standing.
      const su = findSet(pdu, 'sakUse');
      if (su) {
        peer.sakUse = su;
        peer.xpn = findSet(pdu, 'xpn') ?? null;
      }
      peer.lists = new Map((liveList?.peers ?? []).map((e) => [toHex(e.mi), { mi: e.mi, mn: e.mn }]));
      // A key it now reports receiving with is one its current MI holds.
      this.keys.offerTo(peer.sciHex);
    }
    if (liveChanged || electionInputChanged) this.reelect();

    const dist = findSet(pdu, 'distributedSak');
    if (dist && peer.live && this.keying) {
      // The same MKPDU's SAK Use may say the key server already transmits our latest key: take
      // that step first, so the new key does not abandon a key that is on the wire.
      this.evaluate(now);
      this.receiveDistributedSak(dist, liveList, peer, now);
    }

    c.mkpdusAccepted++;
    this.evaluate(now);
    this.maybeSend(now);
    return true;
  }

  private drop(reason: string): false {
    this.env.counters.mkpdusDropped++;
    this.out.events.push({ kind: 'dropped', reason });
    return false;
  }

  private makeLive(peer: Peer, now: number): void {
    // A new MI from an SCI we know is the same system after a restart: the old incarnation
    // is replaced once the new one has proven liveness (so replayed old MKPDUs cannot do this).
    // The RX SC stays, with the RX SAs it has: a restarted agent that kept its kernel SecY still
    // sends with the old key until the new SAK is in use, and an SA kept keeps its replay window
    // (only a fresh one for the same SCI and key would reopen it, which KeyUse never installs).
    // The changed live set makes the key server distribute a new SAK (KeyServerState.duty).
    peer.live = true;
    for (const other of this.peers.bySci(peer.sciHex)) {
      if (other !== peer) this.removePeer(other);
    }
    this.liveChangedAt = now;
    // Our Live Peer List changed: the others (a key server waiting for the full mesh) learn it soon.
    this.schedule.soft(now);
    this.out.events.push({ kind: 'peerLive', sci: peer.sciHex, mi: peer.miHex });
    if (this.keying) this.keys.ensureRxSc(peer.sciHex);
  }

  private removePeer(peer: Peer): void {
    this.peers.delete(peer.miHex);
    this.forgotten.set(peer.miHex, this.lastNow + this.cfg.lifeTimeMs + this.cfg.helloTimeMs);
    if (!peer.live) return;
    this.liveChangedAt = this.lastNow;
    this.env.counters.peersLost++;
    this.out.events.push({ kind: 'peerLost', sci: peer.sciHex, mi: peer.miHex });
    if (this.keyed && this.peers.bySci(peer.sciHex).every((p) => !p.live)) this.keys.deleteRxSc(peer.sciHex);
  }

  /** Non key server: a Distributed SAK from a live peer. */
  private receiveDistributedSak(set: DistributedSakParamSet, liveList: PeerListParamSet | undefined, from: Peer, now: number): void {
    if (!this.ks || this.ks.self || this.ks.miHex !== from.miHex) {
      this.out.events.push({ kind: 'dropped', reason: 'Distributed SAK from a participant that is not our key server ignored' });
      return;
    }
    const keys = this.keys;
    const receiver = {
      kek: this.kek,
      mi: this.actor.mi,
      sciHex: this.cfg.sciHex,
      capability: this.cfg.secyCapability,
      peers: this.peers,
      known: (ki: KeyIdentifier) => keys.knows(ki),
    };
    const r = openDistributedSak(set, liveList, from, receiver, now);
    if (r.kind === 'plain') {
      keys.dropKeys('key server advises not to use MACsec');
      return;
    }
    if (r.kind === 'ignored') {
      if (r.reason) this.out.events.push({ kind: 'dropped', reason: r.reason });
      return;
    }
    const why = keys.canHold(r.key);
    if (why) {
      zeroize(r.key.sak);
      this.out.events.push({ kind: 'dropped', reason: `Distributed SAK not taken while another CA is in use: ${why}` });
      return;
    }
    this.env.counters.saksReceived++;
    keys.receiveDistributed(r.key, from.miHex, now);
  }

  // -------------------------------------------------------------------------------------------
  // Timers

  tick(now: number, pn?: SecyPnStatus): void {
    this.lastNow = now;
    if (!this.started) return;
    this.lastPnAt = now; // also when the read failed: retried a hello time later, never in a loop
    if (pn) this.takePnStatus(pn, now);
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

  private takePnStatus(pn: SecyPnStatus, now: number): void {
    for (const k of [this.keys.latest, this.keys.old]) {
      if (!k) continue;
      const v = pn.txNextPn.get(k.an);
      if (v === undefined) continue;
      samplePn(k, v, now, this.cfg.helloTimeMs);
      if (k.tx && !k.exhausted && v >= this.cfg.pnExhaustionThreshold) {
        k.exhausted = true;
        if (this.ks?.self && isKeyOf(k, this.actor.mi)) this.server.requestRekey('pn-exhaustion');
        // Non key server: our SAK Use reports the PN; send it now so the key server reacts.
        this.schedule.urgent(this.lastNow);
      }
    }
  }

  /** Earliest time at which tick() has work to do. */
  deadline(): number {
    if (!this.started) return Infinity;
    const c = this.schedule.timers();
    for (const p of this.peers.all()) c.push(p.expiresAt);
    if (this.keying) c.push(...this.keys.timers(this.ks?.self === true));
    if (this.retiringSince !== null) c.push(this.retiringSince + MKA_SAK_RETIRE_TIME_MS, this.retiringSince + this.cfg.lifeTimeMs);
    // An MKPDU sent on receipt moves the hello timer; PN exhaustion is still checked every hello.
    if (this.principal && (this.keys.latest || this.keys.old)) c.push(Math.max(this.lastPnAt + this.cfg.helloTimeMs, this.lastNow + 1));
    const cur = currentTxKey(this.keys.latest, this.keys.old);
    if (this.keying && this.ks?.self && cur && cur.txAt !== null && this.cfg.rekeyPeriodMs > 0) {
      c.push(cur.txAt + this.cfg.rekeyPeriodMs);
    }
    if (this.keying && this.ks?.self) c.push(this.server.holdOffUntil(this.view()), this.meshHoldUntil());
    let d = Infinity;
    for (const t of c) if (t > this.lastNow && t < d) d = t;
    return d;
  }

  // -------------------------------------------------------------------------------------------
  // Election and key use

  private reelect(): void {
    const { priority, sciHex, canBeKeyServer } = this.cfg;
    const next = electedKeyServer({ priority, sciHex, miHex: this.actor.miHex, canBeKeyServer }, this.peers.live());
    const prev = this.ks;
    this.ks = next;
    if (!next) return;
    if (!prev || prev.self !== next.self || prev.miHex !== next.miHex) {
      this.env.counters.keyServerChanges++;
      this.out.events.push({ kind: 'keyServerElected', sci: next.sciHex, self: next.self });
      this.keys.dropPending();
    }
  }

  private view(): KeyServerView {
    const { latest, old } = this.keys;
    const { rekeyPeriodMs, pnExhaustionThreshold, lifeTimeMs } = this.cfg;
    const potentialPending = this.peers.potential().length > 0 || this.relayedPotential(this.lastNow).length > 0;
    return { live: this.peers.live(), latest, old, mi: this.actor.mi, rekeyPeriodMs, pnExhaustionThreshold, lifeTimeMs, potentialPending };
  }

  /**
   * Members our live peers list live that we have not heard ourselves (9.4.3: they go into our
   * Potential Peer List, so that such a member counts us live on our first MKPDU it hears).
   * Never our own MI, a peer we know, or one we just removed.
   */
  private relayedPotential(now: number): MemberId[] {
    const out = new Map<string, MemberId>();
    for (const [mi, until] of this.forgotten) if (until <= now) this.forgotten.delete(mi);
    for (const p of this.peers.live()) {
      for (const [hex, e] of p.lists) {
        if (hex === this.actor.miHex || this.peers.get(hex) || this.forgotten.has(hex)) continue;
        const cur = out.get(hex);
        if (!cur || e.mn > cur.mn) out.set(hex, e);
      }
    }
    for (const hex of [...this.relayed.keys()]) if (!out.has(hex)) this.relayed.delete(hex);
    for (const hex of out.keys()) if (!this.relayed.has(hex)) this.relayed.set(hex, now);
    return [...out.values()].slice(0, MAX_PEERS);
  }

  /**
   * A member first heard less than a hello time ago may not count us live yet. wpa_supplicant
   * 2.10 selects a new MI whenever a sender it does not count live includes SAK Use without a
   * Distributed SAK, so our MKPDUs leave SAK Use out meanwhile (peers keep our last report).
   */
  private quiet(now: number): boolean {
    const fresh = (t: number) => now - t < this.cfg.helloTimeMs;
    for (const p of this.peers.all()) if ((!p.live || !p.listsUsLive) && fresh(p.firstSeenAt)) return true;
    this.relayedPotential(now);
    for (const t of this.relayed.values()) if (fresh(t)) return true;
    return false;
  }

  /**
   * A key server waits (at most MESH_HOLD_MS after a live-set change) for potential peers to
   * become live and for the live members to list each other, so that one SAK covers them all.
   */
  private meshHoldUntil(): number {
    const live = this.peers.live();
    const pending = this.peers.potential().length > 0 || this.relayedPotential(this.lastNow).length > 0;
    return pending || (live.length > 1 && !meshComplete(live)) ? this.liveChangedAt + MESH_HOLD_MS : -Infinity;
  }

  /**
   * Runs the key-use state machine until nothing changes. A key server generates a SAK only
   * when an MKPDU goes out (`generate`), so that membership changes arriving together (pairwise
   * liveness of several peers in one burst) lead to one SAK, not one per peer.
   */
  private evaluate(now: number, generate = false): void {
    if (!this.keyed || !this.started) return;
    if (this.retiringSince !== null) return this.stepRetiring(now);
    const keys = this.keys;
    if (this.peers.live().length === 0) {
      if (keys.latest || keys.old) keys.dropKeys('no live peers');
      this.server.pendingRekey = null;
      return;
    }
    if (capablePeers(this.peers.live()).length === 0) {
      // should-secure: back to unprotected; must-secure: the port stays closed
      if (keys.latest || keys.old) keys.dropKeys('no MACsec-capable live peers');
      this.server.pendingRekey = null;
      return;
    }
    for (let i = 0; i < 8; i++) {
      const before = this.signature();
      keys.stepRetire(now, this.ownKeyAsServer(), this.server.pendingRekey !== null);
      if (this.ks?.self && now >= this.server.generateNotBefore) {
        const duty = this.server.duty(this.view(), now);
        if (duty && (duty === 'initial' || duty === 'peer-change') && now < this.meshHoldUntil()) {
          // the live members do not all list each other yet: give them MESH_HOLD_MS
        } else if (duty) {
          if (keys.latest?.tx) {
            if (duty !== 'initial') this.server.requestRekey(duty); // TRANSMITTING: wait for RETIRE
          } else if (generate) {
            this.generateSak(now, duty);
          } else {
            if (duty !== 'initial') this.server.requestRekey(duty);
            this.schedule.urgent(now);
          }
        }
      }
      keys.stepTransmit(this.ks, this.actor.mi, now);
      keys.stepRetire(now, this.ownKeyAsServer(), this.server.pendingRekey !== null);
      if (this.signature() === before) break;
    }
  }

  /** We are key server and the latest key is ours. */
  private ownKeyAsServer(): boolean {
    const L = this.keys.latest;
    return this.ks?.self === true && L !== null && isKeyOf(L, this.actor.mi);
  }

  private signature(): string {
    return `${this.keys.signature()}|${this.server.pendingRekey ?? ''}`;
  }

  private generateSak(now: number, reason: RekeyReason | 'initial'): void {
    const keys = this.keys;
    if (keys.latest && !keys.latest.tx) keys.abandon(now);
    const replaced = keys.latest !== null || keys.old !== null;
    const live = this.peers.live();
    const key = this.server.generate({ cak: this.cak, mi: this.actor.mi, live, old: keys.old, busyAns: this.env.share.ansOfOthers(keys), cfg: this.cfg, now });
    const why = keys.canHold(key);
    if (why) {
      // A successor's key must fit beside the principal's; try again a life time later.
      zeroize(key.sak);
      this.server.generateNotBefore = now + this.cfg.lifeTimeMs;
      this.out.events.push({ kind: 'dropped', reason: `SAK not made while another CA is in use: ${why}` });
      return;
    }
    key.meshIncomplete = live.length > 1 && !meshComplete(live);
    this.env.counters.saksGenerated++;
    if (replaced && reason !== 'initial') {
      this.env.counters.rekeys++;
      this.out.events.push({ kind: 'rekey', reason, kn: key.ki.kn });
    }
    keys.receive(key, now);
  }

  // -------------------------------------------------------------------------------------------
  // Transmit

  private maybeSend(now: number): void {
    if (!this.started || !this.schedule.due(now)) return;
    this.evaluate(now, true);
    this.out.frames.push(this.buildMkpdu(now));
    this.env.counters.mkpdusSent++;
    this.schedule.sent(now);
  }

  private newMi(now: number, emitEvent: boolean): void {
    this.actor.renew();
    if (emitEvent) {
      this.env.counters.miChanges++;
      this.schedule.urgent(now);
    }
  }

  private buildMkpdu(now: number): Uint8Array {
    if (this.actor.spent) this.newMi(now, true);
    const mn = this.actor.next(now);
    const { latest, old } = this.keys;
    const live = this.peers.live();
    const distributedSak = this.distributedSak(live);
    const withSakUse =
      this.keyed && live.length > 0 && (latest !== null || old !== null) && (distributedSak !== null || this.suspendFor > 0 || !this.quiet(now));
    if (withSakUse && latest?.tx && latest.txShownAt === null) latest.txShownAt = now;
    const ksSelf = this.ks?.self === true;
    return buildMkpdu(
      this.cfg,
      {
        ckn: this.ckn,
        mi: this.actor.mi,
        mn,
        keyServer: this.ks ? this.ks.self : true,
        live,
        potential: [...this.peers.potential(), ...this.relayedPotential(now)],
        keyServerSsci: ksSelf ? keyServerSsciOctet(latest ?? old, this.actor.mi, this.cfg.sciHex) : 0,
        sakUse: withSakUse ? sakUseSet(latest, old, this.env.port) : null,
        distributedSak,
        xpn:
          this.suspendFor > 0
            ? { ...(xpnSet(latest, old) ?? { type: 'xpn', latestLowestPnHigh: 0, oldLowestPnHigh: 0 }), suspendedFor: this.suspendFor }
            : xpnSet(latest, old),
      },
      this.ick,
    );
  }

  /** Key server: the Distributed SAK of our newest key, while it is still due. */
  private distributedSak(live: readonly Peer[]): DistributedSakParamSet | null {
    if (!this.keying || !this.ks?.self) return null;
    const k = this.keys.latest ?? this.keys.old;
    if (!k || !isKeyOf(k, this.actor.mi)) return null;
    return distributedSakSet(k, live, this.kek);
  }

  // -------------------------------------------------------------------------------------------
  // Commands and status

  /**
   * The SecY refused an action of ours (e.g. the kernel rejected an SA). A key whose receive or
   * transmit SA could not be installed is dropped and never installed again, so our MKPDUs stop
   * claiming to receive with it and no key server switches to a key we cannot use; a key server
   * waits one life time before trying a new SAK. A refused cipher suite or confidentiality offset
   * drops the key it was set for; failures of deletes and other port settings change nothing here. Returns the KI of the dropped key, if any.
   */
  secyFailed(a: SecyAction, error: string, now: number): string | null {
    const held = this.keys.held();
    let key: KeyState | undefined;
    if (a.kind === 'installRxSa' || a.kind === 'installTxSa') key = held.find((k) => k.kiHex === a.ki);
    else if ((a.kind === 'enableRxSa' || a.kind === 'enableTxSa') && a.enable) key = held.find((k) => k.an === a.an);
    else if (a.kind === 'setCipherSuite') {
      // The setting of the key being installed: without it its SAs protect nothing we agreed on.
      this.env.port.suiteRefused = true;
      key = held.find((k) => k.cipherSuite === a.cipherSuite && k.confidentialityOffset === a.confidentialityOffset && !k.tx);
    }
    if (!key || !this.keys.refuse(key)) return null;
    this.server.generateNotBefore = now + this.cfg.lifeTimeMs;
    if (!this.keys.latest?.tx && !this.keys.old?.tx) this.keys.setUnsecured(`SecY refused key ${key.kiHex} (${a.kind}: ${error})`);
    this.schedule.urgent(now);
    this.maybeSend(now);
    return key.kiHex;
  }

  /**
   * In-service suspension (802.1Xbx / 802.1X-2020): one last MKPDU tells the live peers that we
   * stop sending MKPDUs for `seconds` while our SAs stay in use, so they keep us (and our SAs)
   * that long. Nothing is deleted; the caller stops driving the KaY afterwards.
   */
  suspend(now: number, seconds: number): void {
    if (!this.started || this.peers.live().length === 0) return;
    this.suspendFor = Math.max(1, Math.min(255, Math.round(seconds)));
    this.schedule.promptNow(now);
    this.maybeSend(now);
    this.started = false;
  }

  forceRekey(now: number): string | null {
    if (!this.principal) return 'not the principal participant';
    if (!this.ks?.self) return 'not the key server';
    if (capablePeers(this.peers.live()).length === 0) return 'no live MACsec-capable peers';
    this.server.pendingRekey = 'forced';
    this.evaluate(now, true);
    this.maybeSend(now);
    return null;
  }

  status(): KayParticipantStatus {
    const ks = this.ks;
    return {
      ckn: this.cknHex,
      principal: this.principal,
      role: this.role,
      mi: this.actor.miHex,
      mn: this.actor.mn,
      keyServer: ks ? { sci: ks.sciHex, mi: ks.self ? this.actor.miHex : ks.miHex, self: ks.self, priority: ks.priority } : null,
      livePeers: this.peers.live().map(peerStatus),
      potentialPeers: this.peers.potential().map(peerStatus),
      latestKey: keyStatus(this.keys.latest),
      oldKey: keyStatus(this.keys.old),
    };
  }
}
