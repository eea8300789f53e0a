/**
 * CAK key chains of PSK channels (an openconfig-macsec interface's MKA `key-chain`). A channel's PSK endpoints
 * run its current key; AddChannelKey adds a next key that the manager generates (a CAK the API
 * never carries) and distributes to every PSK endpoint's agent, which adds it to the port's KaY
 * at its start time: the new CA runs beside the current one and takes over without a gap (make
 * before break, src/mka/kay.ts addCak). RetireChannelKey removes a key: the agents remove its CA
 * (removeCak) and its CAK is deleted from the store (and wiped from the SQLite files). A key
 * whose lifetime is over is retired automatically once another key is in use on every PSK
 * endpoint; until then it stays (an expired key is better than no key) and CHANNEL_KEY_EXPIRED
 * says so.
 *
 * Wire compatibility: the current key stays DesiredPort.psk (what agents without key chains
 * run); psk_keys carries the whole chain only while there is more than one key. Fingerprints of
 * channels never re-keyed are unchanged (desired.ts), and EAP ports' never change with the chain.
 */
import { randomBytes } from 'node:crypto';
import type { Hello } from '../control/gen/macsec/v1/agent.js';
import { EventType } from '../control/gen/macsec/v1/manager.js';
import { PortMode, PortState, type PortStatus } from '../control/gen/macsec/v1/types.js';
import { SYSTEM_ACTOR, type Actor } from '../control/authz.js';
import { KEY_CHAIN_CAPABILITY } from '../control/vocabulary.js';
import { failedPrecondition, invalidArgument, notFound, unavailable } from '../common/errors.js';
import { bytesEqual } from '../common/hex.js';
import type { Channels } from './channels.js';
import type { AddKeyInput, AddedKey, ChannelView, KeyView, RetireKeyInput, RetiredKey } from './model.js';
import { checkAddChannelKey, checkRetireChannelKey } from './requests.js';
import type { ManagerState } from './state.js';
import { portId, type StoredChannel, type StoredChannelKey } from './store/store.js';

/** Keys a chain may hold at once: the current one and three next ones. */
export const MAX_CHANNEL_KEYS = 4;
/** Longest timer (setTimeout's limit is 2^31-1 ms); a later expiry re-arms it. */
const MAX_TIMER_MS = 3_600_000;

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const iso = (ms: number) => new Date(ms).toISOString();

/** The channel's keys, current first, then the next keys by start time. */
export function chainOf(c: StoredChannel): StoredChannelKey[] {
  const cur = c.currentKey ?? { keyId: c.keyId, startMs: c.createdMs, lifetimeS: 0, createdMs: c.createdMs, requestId: '' };
  return [{ cak: c.cak, ckn: c.ckn, ...cur }, ...(c.nextKeys ?? [])];
}

/** The channel with this chain: keys[0] becomes the current key (its material in cak/ckn). */
export function withChain(c: StoredChannel, keys: readonly StoredChannelKey[]): StoredChannel {
  const [cur, ...next] = keys;
  if (!cur) throw new Error('a key chain keeps at least one key');
  const { cak, ckn, ...info } = cur;
  // The create call's retry returns its generated key only while that key is the channel's.
  return { ...c, cak, ckn, currentKey: info, nextKeys: next, generatedPsk: c.generatedPsk && info.keyId === c.keyId };
}

/** Whether the channel's chain ever changed (then PSK port fingerprints cover the chain). */
export const rekeyed = (c: StoredChannel): boolean => !!c.currentKey || !!c.nextKeys?.length;

/**
 * Refuses an agent that does not run key chains (its Hello lacks psk-key-chain): it would restart
 * its PSK port at every key change. `field` names the request field, `why` says what needs it.
 */
export function requireKeyChains(hello: Pick<Hello, 'capabilities' | 'version'>, field: string, agentId: string, why = ''): void {
  if (hello.capabilities.includes(KEY_CHAIN_CAPABILITY)) return;
  throw failedPrecondition(
    `${field}: agent '${agentId}' (version ${hello.version || '?'}) does not run key chains (capability ${KEY_CHAIN_CAPABILITY})${why}; upgrade it first`,
  );
}

/** A PSK endpoint as the key states see it. */
export interface KeyEndpoint {
  portId: string;
  connected: boolean;
  status: PortStatus;
}

/**
 * The states of a chain's keys. Pure. A key is in use when every PSK endpoint's agent is
 * connected and reports its CKN as the principal CA's; a next key before its start is pending;
 * anything else is active (running beside the key in use, or left over from before it).
 */
export function keyViews(chain: readonly StoredChannelKey[], psk: readonly KeyEndpoint[], now: number): KeyView[] {
  return chain.map((k, i) => {
    const ckn = hex(k.ckn);
    const inUse = psk.length > 0 && psk.every((e) => e.connected && e.status.state !== PortState.PORT_STATE_AGENT_DISCONNECTED && e.status.ckn === ckn);
    return {
      ckn: k.ckn,
      startMs: k.startMs,
      lifetimeS: k.lifetimeS,
      createdMs: k.createdMs,
      expiresMs: k.lifetimeS ? k.startMs + k.lifetimeS * 1000 : 0,
      state: inUse ? 'in_use' : i > 0 && k.startMs > now ? 'pending' : 'active',
      inUsePortIds: psk.filter((e) => e.status.ckn === ckn).map((e) => e.portId),
    };
  });
}

export class KeyChains {
  /** `${channel id}/${ckn}` of next keys announced in use (once per manager run). */
  private readonly announced = new Set<string>();
  /** Expired keys announced as kept (no other key in use yet). */
  private readonly expired = new Set<string>();
  private readonly retiring = new Set<string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly st: ManagerState,
    private readonly channels: Channels,
  ) {}

  /** The channel's endpoints on PSK ports (with their index in the channel, for field names). */
  private pskEndpoints(c: StoredChannel) {
    return c.endpoints
      .map((e, i) => ({ e, i, pid: portId(e.agentId, e.switchPort) }))
      .filter((x) => this.st.store.getPort(x.pid)?.mode === PortMode.PORT_MODE_PSK);
  }

  private lookup(channelId: string, actor: Actor): StoredChannel {
    const c = this.st.store.getChannel(channelId);
    if (!c) throw notFound('channel_id', `secure channel '${channelId}' does not exist`);
    this.st.checkOwner(actor, c.owner, `secure channel '${c.name}'`);
    if (!this.pskEndpoints(c).length) {
      throw failedPrecondition(
        `channel_id: secure channel '${c.name}' has no PSK endpoints: its EAP ports derive their CAK from EAP (each re-authentication brings a new one), it has no key chain`,
      );
    }
    return c;
  }

  private agentsOf(c: StoredChannel): string[] {
    return [...new Set(this.pskEndpoints(c).map((x) => x.e.agentId))];
  }

  async add(req: AddKeyInput, actor: Actor): Promise<AddedKey> {
    const { st } = this;
    const now = Date.now();
    const spec = checkAddChannelKey(req, now);
    const c = this.lookup(spec.channelId, actor);
    const chain = chainOf(c);
    if (spec.requestId) {
      // A retry of the call that added it: the same answer, while the key exists.
      const i = chain.findIndex((k) => k.requestId === spec.requestId);
      if (i >= 0) {
        const v = this.channels.view(c);
        return { key: v.keys[i]!, channel: v, created: false };
      }
    }
    if (chain.length >= MAX_CHANNEL_KEYS)
      throw failedPrecondition(`channel_id: secure channel '${c.name}' has ${chain.length} keys, the most its key chain holds; retire one first`);
    const startMs = spec.startMs || now;
    const latest = chain[chain.length - 1]!;
    if (startMs < latest.startMs) {
      throw invalidArgument('start_time_ms', `${iso(startMs)} is before the start of the channel's latest key ${hex(latest.ckn)} (${iso(latest.startMs)})`);
    }
    for (const { e, i } of this.pskEndpoints(c)) {
      const s = st.helloOf(e.agentId);
      if (!s)
        throw unavailable(`endpoints[${i}].agent_id: agent '${e.agentId}' is not connected (the next key must reach every PSK endpoint before its start)`);
      requireKeyChains(s, `endpoints[${i}].agent_id`, e.agentId);
    }
    let ckn: Uint8Array;
    do ckn = new Uint8Array(randomBytes(16));
    while (chain.some((k) => bytesEqual(k.ckn, ckn)));
    const key: StoredChannelKey = {
      // As long as the channel's first CAK: a 256-bit CAK stays 256-bit.
      cak: new Uint8Array(randomBytes(c.cak.length === 32 ? 32 : 16)),
      ckn,
      keyId: randomBytes(8).toString('hex'),
      startMs,
      lifetimeS: spec.lifetimeS,
      createdMs: now,
      requestId: spec.requestId,
    };
    st.store.putChannel(withChain(c, [...chain, key]));
    await st.store.flush();
    const agents = this.agentsOf(c);
    try {
      await Promise.all(agents.map((a) => st.push(a)));
    } catch (e) {
      // Not every agent has it: take it back (the others drop it with the next push).
      st.bestEffort('key chain rollback', () => {
        const cur = st.store.getChannel(c.id);
        if (!cur) return;
        const rest = chainOf(cur).filter((k) => k.keyId !== key.keyId);
        if (rest.length) st.store.putChannel(withChain(cur, rest));
        st.store.wipeDeleted();
      });
      for (const a of agents.filter((x) => st.connected(x))) st.push(a).catch(() => {});
      throw e;
    }
    const v = this.channels.view(st.store.getChannel(c.id) ?? c);
    // (The channel may have changed meanwhile; the key is described as added in any case.)
    const view = v.keys.find((k) => bytesEqual(k.ckn, ckn)) ?? keyViews([key], [], Date.now())[0]!;
    st.publish({
      type: EventType.EVENT_TYPE_CHANNEL_KEY_ADDED,
      channelId: c.id,
      message: `channel ${c.name}: next key ${hex(ckn)} distributed to ${agents.length} agents, starts ${iso(startMs)}${spec.lifetimeS ? `, lifetime ${spec.lifetimeS} s` : ''}`,
      attributes: { ckn: hex(ckn), start_time_ms: String(startMs), lifetime_seconds: String(spec.lifetimeS) },
    });
    this.evaluate();
    return { key: view, channel: v, created: true };
  }

  async retire(req: RetireKeyInput, actor: Actor, reason: 'operator' | 'lifetime' = 'operator'): Promise<RetiredKey> {
    const { st } = this;
    const spec = checkRetireChannelKey(req);
    const c = this.lookup(spec.channelId, actor);
    const chain = chainOf(c);
    const i = chain.findIndex((k) => bytesEqual(k.ckn, spec.ckn));
    if (i < 0) {
      if (req.allowMissing) return { existed: false, key: undefined, channel: this.channels.view(c) };
      throw notFound('ckn', `secure channel '${c.name}' has no key with CKN ${hex(spec.ckn)}`);
    }
    if (chain.length === 1)
      throw failedPrecondition(`ckn: ${hex(spec.ckn)} is the only key of secure channel '${c.name}'; add a next key first, or delete the channel`);
    const before = this.channels.view(c);
    const users = before.keys[i]!.inUsePortIds;
    if (users.length && !req.force) {
      throw failedPrecondition(
        `ckn: key ${hex(spec.ckn)} is still the CA in use on ${users.join(', ')} (no other key is in use on every PSK endpoint yet); ` +
          'wait for CHANNEL_KEY_IN_USE of the next key, or force',
      );
    }
    // Store first, the CAK wiped from the files: whatever the agents answer, the key is gone.
    st.store.putChannel(
      withChain(
        c,
        chain.filter((_, j) => j !== i),
      ),
    );
    await st.store.flush();
    st.store.wipeDeleted();
    const id = `${c.id}/${hex(spec.ckn)}`;
    this.announced.delete(id);
    this.expired.delete(id);
    const agents = this.agentsOf(c);
    const pushed = await Promise.allSettled(agents.map((a) => st.pushIfConnected(a)));
    pushed.forEach((r, j) => {
      // An agent that does not answer (or is away) removes the CA with its next desired state.
      if (r.status === 'rejected') st.log.warn('retired key not acknowledged', { channel: c.name, agent: agents[j], error: (r.reason as Error).message });
    });
    st.publish({
      type: EventType.EVENT_TYPE_CHANNEL_KEY_RETIRED,
      channelId: c.id,
      message: `channel ${c.name}: key ${hex(spec.ckn)} retired (${reason}${users.length ? `, forced while in use on ${users.join(', ')}` : ''})`,
      attributes: { ckn: hex(spec.ckn), reason, ...(users.length ? { forced: 'true' } : {}) },
    });
    const after = this.channels.view(st.store.getChannel(c.id) ?? c);
    this.evaluate();
    return { existed: true, key: { ...before.keys[i]!, state: 'retired', inUsePortIds: [] }, channel: after };
  }

  /**
   * After status changes and at key expiries: announces next keys coming into use, retires
   * expired keys once another key is in use, and says when an expired key has to stay. After a
   * status change of one agent, only that agent's channels (the expiry timer stays as it is: key
   * lifetimes change only with the chains, which evaluate all).
   */
  evaluate(agentId?: string): void {
    if (this.st.stopped) return;
    const now = Date.now();
    // With replicas, every one sees the same keys come into use or expire: the leader alone tells and retires.
    const leader = this.st.replicas.leader;
    for (const c of this.st.store.listChannels(agentId)) {
      if (!c.committed || !rekeyed(c)) continue;
      const v = this.channels.view(c);
      v.keys.forEach((k, i) => {
        const id = `${c.id}/${hex(k.ckn)}`;
        if (k.state === 'in_use' && i > 0 && !this.announced.has(id)) {
          this.announced.add(id);
          if (leader)
            this.st.publish({
              type: EventType.EVENT_TYPE_CHANNEL_KEY_IN_USE,
              channelId: c.id,
              message: `channel ${c.name}: key ${hex(k.ckn)} in use on all ${k.inUsePortIds.length} PSK endpoints`,
              attributes: { ckn: hex(k.ckn) },
            });
        }
        if (!k.expiresMs || now < k.expiresMs) return;
        if (v.keys.some((x) => x !== k && x.state === 'in_use')) {
          if (leader) this.autoRetire(v, k);
        } else if (!this.expired.has(id)) {
          this.expired.add(id);
          if (leader)
            this.st.publish({
              type: EventType.EVENT_TYPE_CHANNEL_KEY_EXPIRED,
              channelId: c.id,
              message: `channel ${c.name}: key ${hex(k.ckn)} expired at ${iso(k.expiresMs)}; kept until another key is in use on every PSK endpoint`,
              attributes: { ckn: hex(k.ckn), expires_ms: String(k.expiresMs) },
            });
        }
      });
    }
    if (agentId === undefined) this.schedule(now);
  }

  private autoRetire(c: ChannelView, k: KeyView): void {
    const id = `${c.id}/${hex(k.ckn)}`;
    if (this.retiring.has(id)) return;
    this.retiring.add(id);
    this.retire({ channelId: c.id, cknHex: hex(k.ckn), force: false, allowMissing: true }, SYSTEM_ACTOR, 'lifetime')
      .catch((e) => this.st.log.warn('retiring an expired key failed', { channel: c.name, ckn: hex(k.ckn), error: (e as Error).message }))
      .finally(() => this.retiring.delete(id));
  }

  /** Arms the timer for the next key expiry (status changes evaluate in between). */
  private schedule(now: number): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    let next = Infinity;
    for (const c of this.st.store.listChannels())
      for (const k of chainOf(c)) if (k.lifetimeS && k.startMs + k.lifetimeS * 1000 > now) next = Math.min(next, k.startMs + k.lifetimeS * 1000);
    if (!Number.isFinite(next)) return;
    this.timer = setTimeout(() => this.evaluate(), Math.min(MAX_TIMER_MS, next - now + 1));
    this.timer.unref();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
