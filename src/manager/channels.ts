/**
 * Secure channels: create (idempotently, with a request id), update (add and remove endpoints),
 * delete, view, and the evaluation that publishes when a channel becomes secured or degrades. A
 * channel is stored uncommitted, pushed to its agents and committed only once all of them
 * acknowledged it. An update is stored, pushed to the agents of the added and removed endpoints
 * only, and undone when one of them does not acknowledge it: the ports that stay keep exactly the
 * desired state they had (desired.ts: a port's desired state depends on its own endpoint only).
 */
import { randomBytes } from 'node:crypto';
import { type Event, EventType } from '../control/gen/macsec/v1/manager.js';
import { PortMode, PortState } from '../control/gen/macsec/v1/types.js';
import type { Actor } from '../control/authz.js';
import { alreadyExists, hasCode, failedPrecondition, notFound, unavailable } from '../common/errors.js';
import { channelPhase, channelTransition, unsecuredPorts } from './channel-state.js';
import { endpointKey } from './desired.js';
import { chainOf, keyViews, rekeyed, requireKeyChains } from './key-chain.js';
import type { ChannelView, CreateChannelInput, CreatedChannel, DeleteChannelInput, Endpoint, UpdateChannelInput, UpdatedChannel } from './model.js';
import { checkChannelRef, checkCreateChannel, checkUpdateChannel, MAX_ENDPOINTS } from './requests.js';
import { stableJson } from './stable-json.js';
import type { ManagerState } from './state.js';
import type { StoredChannel } from './store/store.js';

const DEFAULT_WAIT_MS = 30_000;
/** Fewest endpoints an update may leave (a channel of one is deleted, not shrunk). */
const MIN_UPDATED_ENDPOINTS = 2;
/** Leaves the answer time to reach a caller whose deadline bounds the wait. */
const DEADLINE_MARGIN_MS = 50;

const agentsOf = (endpoints: readonly Endpoint[]) => [...new Set(endpoints.map((e) => e.agentId))];
const psk = (c: StoredChannel) => ({ cak: c.cak, ckn: c.ckn });

export class Channels {
  /** Channel id → when it became SECURED, while it is. */
  private readonly securedSince = new Map<string, number>();
  /** Channels that were SECURED at some point since this manager started. */
  private readonly everSecured = new Set<string>();
  private readonly waiters = new Set<() => void>();
  /**
   * The channel transition last told in the event log, by any replica. Every replica evaluates
   * channels alike; the leader alone tells a transition, when it differs from the last one told
   * (so a new leader tells what the old one did not live to, and nothing twice).
   */
  private readonly told = new Map<string, 'secured' | 'degraded'>();

  constructor(private readonly st: ManagerState) {
    const note = (e: Event) => {
      if (e.type === EventType.EVENT_TYPE_CHANNEL_SECURED) this.told.set(e.channelId, 'secured');
      else if (e.type === EventType.EVENT_TYPE_CHANNEL_DEGRADED) this.told.set(e.channelId, 'degraded');
      else if (e.type === EventType.EVENT_TYPE_CHANNEL_DELETED) this.told.delete(e.channelId);
    };
    for (const e of st.events.replay({})) note(e);
    st.events.subscribe(note);
  }

  view(c: StoredChannel): ChannelView {
    const endpointStatus = c.endpoints.map((e) => {
      const pid = endpointKey(e);
      return { endpoint: e, portId: pid, agentConnected: this.st.connected(e.agentId), status: this.st.statusOf(pid) };
    });
    const psk = endpointStatus
      .filter((v) => this.st.store.getPort(v.portId)?.mode === PortMode.PORT_MODE_PSK)
      .map((v) => ({ portId: v.portId, connected: v.agentConnected, status: v.status }));
    return {
      id: c.id,
      name: c.name,
      endpoints: c.endpoints,
      state: channelPhase(endpointStatus, { secured: this.securedSince.has(c.id), everSecured: this.everSecured.has(c.id) }),
      endpointStatus,
      createdMs: c.createdMs,
      securedSinceMs: this.securedSince.get(c.id) ?? 0,
      ckn: c.ckn,
      owner: c.owner,
      keys: psk.length ? keyViews(chainOf(c), psk, Date.now()) : [],
    };
  }

  /**
   * Re-evaluates channel states (of one agent's channels, of one channel, or all) after status
   * or membership changes and publishes transitions.
   */
  evaluate(agentId?: string, channelId?: string): void {
    const one = channelId !== undefined ? this.st.store.getChannel(channelId) : undefined;
    const channels = channelId !== undefined ? (one && one.id === channelId ? [one] : []) : this.st.store.listChannels(agentId || undefined);
    for (const c of channels) {
      const v = this.view(c);
      const t = channelTransition(v.state, this.securedSince.has(c.id));
      if (t === 'secured') {
        this.securedSince.set(c.id, Date.now());
        this.everSecured.add(c.id);
      } else if (t === 'degraded') this.securedSince.delete(c.id);
      if (!this.st.replicas.leader) continue;
      const told = this.told.get(c.id);
      if (this.securedSince.has(c.id) && told !== 'secured') {
        this.told.set(c.id, 'secured');
        this.st.publish({
          type: EventType.EVENT_TYPE_CHANNEL_SECURED,
          channelId: c.id,
          message: `channel ${c.name} secured on all ${c.endpoints.length} endpoints`,
        });
      } else if (!this.securedSince.has(c.id) && told === 'secured') {
        this.told.set(c.id, 'degraded');
        const bad = unsecuredPorts(v.endpointStatus);
        this.st.publish({
          type: EventType.EVENT_TYPE_CHANNEL_DEGRADED,
          channelId: c.id,
          message: `channel ${c.name} degraded: ${bad.join(', ')} not secured`,
          attributes: { ports: bad.join(',') },
        });
      }
    }
    for (const w of [...this.waiters]) w();
  }

  list(): ChannelView[] {
    return this.st.store.listChannels().map((c) => this.view(c));
  }

  get(idOrName: string): ChannelView {
    checkChannelRef(idOrName);
    const c = this.st.store.getChannel(idOrName);
    if (!c) throw notFound('channel_id', `secure channel '${idOrName}' does not exist`);
    return this.view(c);
  }

  async create(req: CreateChannelInput, deadlineMs: number | undefined, actor: Actor): Promise<CreatedChannel> {
    const { st } = this;
    const spec = checkCreateChannel(req);
    const { endpoints, requestId } = spec;
    let { cak, ckn } = spec;

    const existing = st.store.getChannel(spec.name);
    if (existing) {
      st.checkOwner(actor, existing.owner, `secure channel '${spec.name}'`);
      const same = stableJson(existing.endpoints) === stableJson(endpoints) && (!cak || Buffer.from(cak).equals(Buffer.from(existing.cak)));
      if (!same) throw alreadyExists('name', `secure channel '${spec.name}' exists with different endpoints or key`);
      // A retry of the very call that created it gets that call's result, the generated key
      // included: the first answer may never have reached the client.
      const retry = !!requestId && existing.requestId === requestId;
      if (retry && !existing.committed) await this.commit(existing);
      await this.waitSecured(existing.id, spec.waitSecured, spec.waitTimeoutMs, deadlineMs);
      return { channel: this.view(existing), generatedPsk: retry && existing.generatedPsk ? psk(existing) : undefined, created: retry };
    }

    // Check every endpoint before changing anything.
    endpoints.forEach((e, i) => {
      const f = `endpoints[${i}]`;
      if (!st.store.getAgent(e.agentId)) throw notFound(`${f}.agent_id`, `agent '${e.agentId}' is not known`);
      const p = st.store.getPort(endpointKey(e));
      if (!p) throw failedPrecondition(`${f}.switch_port: no open port '${e.switchPort}' on agent '${e.agentId}' (open it with OpenPort first)`);
      st.checkOwner(actor, p.owner, `${f}.switch_port: port '${p.id}'`);
      const other = st.store.channelOfPort(endpointKey(e));
      if (other) throw failedPrecondition(`${f}.switch_port: port '${p.id}' already belongs to secure channel '${other.name}'`);
      if (!st.connected(e.agentId)) throw unavailable(`${f}.agent_id: agent '${e.agentId}' is not connected`);
    });

    // EAP ports derive their CAK from EAP: a key is generated for the caller only when a PSK port uses it.
    const anyPsk = endpoints.some((e) => st.store.getPort(endpointKey(e))!.mode === PortMode.PORT_MODE_PSK);
    const generated = !cak && anyPsk;
    if (!cak) cak = new Uint8Array(randomBytes(16));
    if (!ckn) ckn = new Uint8Array(randomBytes(16));
    const ch: StoredChannel = {
      id: `ch-${randomBytes(6).toString('hex')}`,
      name: spec.name,
      endpoints,
      cak,
      ckn,
      keyId: randomBytes(8).toString('hex'),
      createdMs: Date.now(),
      owner: actor.label,
      requestId,
      generatedPsk: generated,
      committed: false,
    };
    st.store.putChannel(ch);
    await st.store.flush(); // a channel another replica's write refused is never pushed
    await this.commit(ch);
    st.publish({ type: EventType.EVENT_TYPE_CHANNEL_CREATED, channelId: ch.id, message: `channel ${ch.name} created with ${endpoints.length} endpoints` });
    st.publish({ type: EventType.EVENT_TYPE_CHANNEL_READY, channelId: ch.id, message: `every authenticator of channel ${ch.name} is ready` });
    this.evaluate(undefined, ch.id);
    await this.waitSecured(ch.id, spec.waitSecured, spec.waitTimeoutMs, deadlineMs);
    return { channel: this.view(ch), generatedPsk: generated ? psk(ch) : undefined, created: true };
  }

  /** Pushes a stored, uncommitted channel to its agents; committed once all acknowledged, removed otherwise. */
  private async commit(ch: StoredChannel): Promise<void> {
    const { st } = this;
    const agents = agentsOf(ch.endpoints);
    try {
      await Promise.all(agents.map((a) => st.push(a)));
      const failed = ch.endpoints.map(endpointKey).filter((pid) => st.statusOf(pid).state === PortState.PORT_STATE_FAILED);
      if (failed.length) throw failedPrecondition(`endpoints: ${failed.map((f) => `${f}: ${st.statusOf(f).detail}`).join('; ')}`);
      await st.rewrite(() => {
        // deleted while its agents were acknowledging it (here or at another replica): not brought back
        const cur = st.store.getChannel(ch.id);
        if (!cur || cur.id !== ch.id) throw failedPrecondition(`name: secure channel '${ch.name}' was deleted while it was being created`);
        st.store.putChannel({ ...cur, committed: true });
      });
    } catch (e) {
      st.bestEffort('channel rollback', () => st.store.deleteChannel(ch.id));
      // Roll back in the background: the caller gets its answer after one ack timeout, and an
      // agent that answers late (or reconnects) converges to the state without the channel.
      for (const a of agents.filter((x) => st.connected(x))) st.push(a).catch(() => {});
      throw e;
    }
  }

  /**
   * Adds and removes endpoints. Every check comes before any change; the new membership is stored
   * in one transaction, pushed to the agents of the added and removed endpoints (the others get
   * nothing: their ports' desired state is unchanged) and answered once they acknowledged it.
   */
  async update(req: UpdateChannelInput, deadlineMs: number | undefined, actor: Actor): Promise<UpdatedChannel> {
    const { st } = this;
    const spec = checkUpdateChannel(req);
    const ch = st.store.getChannel(spec.channelId);
    if (!ch) throw notFound('channel_id', `secure channel '${spec.channelId}' does not exist`);
    st.checkOwner(actor, ch.owner, `secure channel '${ch.name}'`);
    if (!ch.committed) throw failedPrecondition(`channel_id: secure channel '${ch.name}' is still being created; update it once CreateSecureChannel answered`);

    const members = new Set(ch.endpoints.map(endpointKey));
    spec.remove.forEach((pid, i) => {
      if (!members.has(pid)) throw failedPrecondition(`remove_port_ids[${i}]: port '${pid}' is not an endpoint of secure channel '${ch.name}'`);
    });
    spec.add.forEach((e, i) => {
      const f = `add_endpoints[${i}]`;
      const pid = endpointKey(e);
      if (members.has(pid)) throw failedPrecondition(`${f}.switch_port: port '${pid}' is already an endpoint of secure channel '${ch.name}'`);
      if (!st.store.getAgent(e.agentId)) throw notFound(`${f}.agent_id`, `agent '${e.agentId}' is not known`);
      const p = st.store.getPort(pid);
      if (!p) throw failedPrecondition(`${f}.switch_port: no open port '${e.switchPort}' on agent '${e.agentId}' (open it with OpenPort first)`);
      st.checkOwner(actor, p.owner, `${f}.switch_port: port '${p.id}'`);
      const other = st.store.channelOfPort(pid);
      if (other) throw failedPrecondition(`${f}.switch_port: port '${p.id}' already belongs to secure channel '${other.name}'`);
      const session = st.helloOf(e.agentId);
      if (!session) throw unavailable(`${f}.agent_id: agent '${e.agentId}' is not connected`);
      // Once the chain changed, a PSK port's desired state is the chain.
      if (p.mode === PortMode.PORT_MODE_PSK && rekeyed(ch))
        requireKeyChains(session, `${f}.agent_id`, e.agentId, ` and secure channel '${ch.name}' has a key chain`);
    });
    const removing = new Set(spec.remove);
    const removed = ch.endpoints.filter((e) => removing.has(endpointKey(e)));
    const endpoints = [...ch.endpoints.filter((e) => !removing.has(endpointKey(e))), ...spec.add];
    if (endpoints.length < MIN_UPDATED_ENDPOINTS) {
      throw failedPrecondition(
        `remove_port_ids: secure channel '${ch.name}' would keep ${endpoints.length} endpoint${endpoints.length === 1 ? '' : 's'}; ` +
          `an update leaves at least ${MIN_UPDATED_ENDPOINTS} (delete the channel with DeleteSecureChannel instead)`,
      );
    }
    if (endpoints.length > MAX_ENDPOINTS)
      throw failedPrecondition(`add_endpoints: secure channel '${ch.name}' would have ${endpoints.length} endpoints; at most ${MAX_ENDPOINTS}`);

    const before = ch.endpoints;
    st.store.transaction(() => st.store.setChannelEndpoints(ch.id, endpoints));
    await st.store.flush();
    // A new member is not secured yet: until it is, the channel is READY again (a scale-out is
    // no degradation); CHANNEL_SECURED is published once every endpoint, old and new, is.
    const securedSince = this.securedSince.get(ch.id);
    const told = this.told.get(ch.id);
    if (spec.add.length) {
      this.securedSince.delete(ch.id);
      this.told.delete(ch.id);
    }
    const added = spec.add.map(endpointKey);
    const agents = agentsOf([...spec.add, ...removed]);
    try {
      // An agent that is away gets the state without the removed port at its next Hello.
      await Promise.all(agents.filter((a) => st.connected(a) || spec.add.some((e) => e.agentId === a)).map((a) => st.push(a)));
      const failed = added.filter((pid) => st.statusOf(pid).state === PortState.PORT_STATE_FAILED);
      if (failed.length) throw failedPrecondition(`add_endpoints: ${failed.map((f) => `${f}: ${st.statusOf(f).detail}`).join('; ')}`);
    } catch (e) {
      if (securedSince !== undefined && !this.securedSince.has(ch.id)) this.securedSince.set(ch.id, securedSince);
      if (told && !this.told.has(ch.id)) this.told.set(ch.id, told);
      this.undoUpdate(ch.id, before, endpoints, added, removed, agents);
      throw e;
    }
    const parts = [added.length && `added ${added.join(', ')}`, spec.remove.length && `removed ${spec.remove.join(', ')}`].filter(Boolean);
    st.publish({
      type: EventType.EVENT_TYPE_CHANNEL_UPDATED,
      channelId: ch.id,
      message: `channel ${ch.name} updated: ${parts.join('; ')} (${endpoints.length} endpoints)`,
      attributes: { added: added.join(','), removed: spec.remove.join(',') },
    });
    this.evaluate(undefined, ch.id);
    await this.waitSecured(ch.id, spec.waitSecured, spec.waitTimeoutMs, deadlineMs);
    const now = st.store.getChannel(ch.id);
    return { channel: this.view(now ?? { ...ch, endpoints }), added, removed: spec.remove };
  }

  /**
   * Undoes an update the agents did not acknowledge, in one transaction: the membership it found
   * comes back when nothing changed it since; otherwise only this update's own change is undone
   * (its added ports leave, its removed ports come back unless another channel took them or they
   * were closed). Pushed in the background, like a failed create's rollback.
   */
  private undoUpdate(id: string, before: Endpoint[], wrote: Endpoint[], added: string[], removed: Endpoint[], agents: string[]): void {
    const { st } = this;
    st.bestEffort('channel update rollback', () =>
      st.store.transaction(() => {
        const now = st.store.getChannel(id);
        if (!now) return;
        if (stableJson(now.endpoints) === stableJson(wrote)) {
          st.store.setChannelEndpoints(id, before);
          return;
        }
        const back = removed.filter((e) => !st.store.channelOfPort(endpointKey(e)) && st.store.getPort(endpointKey(e)));
        st.store.setChannelEndpoints(id, [...now.endpoints.filter((e) => !added.includes(endpointKey(e))), ...back]);
      }),
    );
    for (const a of agents.filter((x) => st.connected(x))) st.push(a).catch(() => {});
    this.evaluate(undefined, id);
  }

  /** Resolves (never rejects) once the channel is secured or gone, or the wait is over. */
  private async waitSecured(id: string, wanted: boolean, timeoutMs: number, deadlineMs?: number): Promise<void> {
    if (!wanted) return;
    const limit = Math.min(timeoutMs || DEFAULT_WAIT_MS, deadlineMs !== undefined ? Math.max(0, deadlineMs - Date.now() - DEADLINE_MARGIN_MS) : Infinity);
    await new Promise<void>((resolve) => {
      const check = () => {
        const c = this.st.store.getChannel(id);
        if (!c || this.view(c).state === 'secured') done();
      };
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(done, limit);
      this.waiters.add(check);
      check();
    });
  }

  /** True when there was something to delete. */
  async delete(req: DeleteChannelInput, actor: Actor): Promise<boolean> {
    const { st } = this;
    let c: ChannelView;
    try {
      c = this.get(req.channelId);
    } catch (e) {
      if (req.allowMissing && hasCode(e, 'not_found')) return false;
      throw e;
    }
    st.checkOwner(actor, c.owner, `secure channel '${c.name}'`);
    st.store.deleteChannel(c.id);
    await st.store.flush();
    st.store.wipeDeleted();
    this.securedSince.delete(c.id);
    this.everSecured.delete(c.id);
    await Promise.all(
      agentsOf(c.endpoints)
        .filter((a) => st.connected(a))
        .map((a) => st.push(a)),
    );
    st.publish({ type: EventType.EVENT_TYPE_CHANNEL_DELETED, channelId: c.id, message: `channel ${c.name} deleted` });
    return true;
  }
}
