/**
 * Secure channels: create (idempotently, with a request id), delete, view, and the evaluation
 * that publishes when a channel becomes secured or degrades. A channel is stored uncommitted,
 * pushed to its agents and committed only once all of them acknowledged it.
 */
import { randomBytes } from 'node:crypto';
import { EventType } from '../control/gen/macsec/v1/manager.js';
import { PortMode, PortState } from '../control/gen/macsec/v1/types.js';
import type { Actor } from '../control/authz.js';
import { alreadyExists, hasCode, failedPrecondition, notFound, unavailable } from '../common/errors.js';
import { channelPhase, channelTransition, unsecuredPorts } from './channel-state.js';
import { endpointKey } from './desired.js';
import { chainOf, keyViews } from './key-chain.js';
import type { ChannelView, CreateChannelInput, CreatedChannel, DeleteChannelInput, Endpoint } from './model.js';
import { checkChannelRef, checkCreateChannel } from './requests.js';
import { stableJson } from './stable-json.js';
import type { ManagerState } from './state.js';
import type { StoredChannel } from './store/store.js';

const DEFAULT_WAIT_MS = 30_000;
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

  constructor(private readonly st: ManagerState) {}

  view(c: StoredChannel): ChannelView {
    const endpointStatus = c.endpoints.map((e) => {
      const pid = endpointKey(e);
      return { endpoint: e, portId: pid, agentConnected: this.st.sessions.has(e.agentId), status: this.st.statusOf(pid) };
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

  /** Re-evaluates channel states (of one agent's channels, or all) after status changes and publishes transitions. */
  evaluate(agentId?: string): void {
    for (const c of this.st.store.listChannels()) {
      if (agentId && !c.endpoints.some((e) => e.agentId === agentId)) continue;
      const v = this.view(c);
      const t = channelTransition(v.state, this.securedSince.has(c.id));
      if (t === 'secured') {
        this.securedSince.set(c.id, Date.now());
        this.everSecured.add(c.id);
        this.st.publish({
          type: EventType.EVENT_TYPE_CHANNEL_SECURED,
          channelId: c.id,
          message: `channel ${c.name} secured on all ${c.endpoints.length} endpoints`,
        });
      } else if (t === 'degraded') {
        this.securedSince.delete(c.id);
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
    const used = new Map<string, StoredChannel>();
    for (const c of st.store.listChannels()) for (const e of c.endpoints) used.set(endpointKey(e), c);
    endpoints.forEach((e, i) => {
      const f = `endpoints[${i}]`;
      if (!st.store.getAgent(e.agentId)) throw notFound(`${f}.agent_id`, `agent '${e.agentId}' is not known`);
      const p = st.store.getPort(endpointKey(e));
      if (!p) throw failedPrecondition(`${f}.switch_port: no open port '${e.switchPort}' on agent '${e.agentId}' (open it with OpenPort first)`);
      st.checkOwner(actor, p.owner, `${f}.switch_port: port '${p.id}'`);
      const other = used.get(endpointKey(e));
      if (other) throw failedPrecondition(`${f}.switch_port: port '${p.id}' already belongs to secure channel '${other.name}'`);
      if (!st.sessions.has(e.agentId)) throw unavailable(`${f}.agent_id: agent '${e.agentId}' is not connected`);
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
    await this.commit(ch);
    st.publish({ type: EventType.EVENT_TYPE_CHANNEL_CREATED, channelId: ch.id, message: `channel ${ch.name} created with ${endpoints.length} endpoints` });
    st.publish({ type: EventType.EVENT_TYPE_CHANNEL_READY, channelId: ch.id, message: `every authenticator of channel ${ch.name} is ready` });
    this.evaluate();
    await this.waitSecured(ch.id, spec.waitSecured, spec.waitTimeoutMs, deadlineMs);
    return { channel: this.view(ch), generatedPsk: generated ? psk(ch) : undefined, created: true };
  }

  /** Pushes a stored, uncommitted channel to its agents; committed once all acknowledged, removed otherwise. */
  private async commit(ch: StoredChannel): Promise<void> {
    const { st } = this;
    const agents = agentsOf(ch.endpoints);
    try {
      await Promise.all(agents.map((a) => st.sessions.push(a)));
      const failed = ch.endpoints.map(endpointKey).filter((pid) => st.statusOf(pid).state === PortState.PORT_STATE_FAILED);
      if (failed.length) throw failedPrecondition(`endpoints: ${failed.map((f) => `${f}: ${st.statusOf(f).detail}`).join('; ')}`);
      st.store.putChannel({ ...ch, committed: true });
    } catch (e) {
      st.store.deleteChannel(ch.id);
      // Roll back in the background: the caller gets its answer after one ack timeout, and an
      // agent that answers late (or reconnects) converges to the state without the channel.
      for (const a of agents.filter((x) => st.sessions.has(x))) st.sessions.push(a).catch(() => {});
      throw e;
    }
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
    st.store.wipeDeleted();
    this.securedSince.delete(c.id);
    this.everSecured.delete(c.id);
    await Promise.all(
      agentsOf(c.endpoints)
        .filter((a) => st.sessions.has(a))
        .map((a) => st.sessions.push(a)),
    );
    st.publish({ type: EventType.EVENT_TYPE_CHANNEL_DELETED, channelId: c.id, message: `channel ${c.name} deleted` });
    return true;
  }
}
