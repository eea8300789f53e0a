/**
 * The agent side of the protocol (agent.proto), one stream per agent:
 *   agent → Hello (identity must equal the certificate's) → manager: Welcome, DesiredState{rev}
 *   agent converges and answers StateAck{rev, port statuses}; it then streams status and events.
 * Everything an agent says is bounded (agent-input.ts) and about its own ports only; anything
 * else is dropped and counted. Statuses feed the channel evaluation, agent events become events.
 */
import { status as Status } from '@grpc/grpc-js';
import type { AgentMessage, Hello } from '../control/gen/macsec/v1/agent.js';
import { EventType } from '../control/gen/macsec/v1/manager.js';
import { PortState, type PortStatus } from '../control/gen/macsec/v1/types.js';
import { echo } from '../common/errors.js';
import type { Logger } from '../common/log.js';
import { LIMITS, boundEvent, boundHello, boundStatus } from './agent-input.js';
import { emptyStatus } from './model.js';
import { AgentSession, type AgentStream } from './sessions.js';
import type { ManagerState } from './state.js';

/** Agent event kinds republished as operator events; secured/unsecured come through status changes, the rest are counters. */
// A Map, not an object literal: the kind is agent input, and "constructor" must not find Object's.
const EVENT_OF_KIND = new Map<string, EventType>([
  ['peerLive', EventType.EVENT_TYPE_PEER_LIVE],
  ['peerLost', EventType.EVENT_TYPE_PEER_LOST],
  ['rekey', EventType.EVENT_TYPE_PORT_REKEYED],
  ['keyServerElected', EventType.EVENT_TYPE_KEY_SERVER_ELECTED],
  ['authenticated', EventType.EVENT_TYPE_PORT_AUTHENTICATED],
  ['principalChanged', EventType.EVENT_TYPE_PORT_AUTHENTICATED],
  ['error', EventType.EVENT_TYPE_ERROR],
  ['secyError', EventType.EVENT_TYPE_ERROR],
]);

export interface AgentStreamOptions {
  heartbeatIntervalMs: number;
  /** How long an agent has to send Hello after opening its stream. */
  helloTimeoutMs: number;
  /** Called after port statuses of an agent changed (or it came or went). */
  statusesChanged(agentId: string): void;
}

export class AgentStreams {
  constructor(
    private readonly st: ManagerState,
    private readonly opts: AgentStreamOptions,
  ) {}

  /**
   * Serves one agent stream. `agentId` is the identity from the verified client certificate
   * (authz.requireAgent); the Hello must claim the same identity or the stream is refused
   * with PERMISSION_DENIED before anything is recorded.
   */
  attach(agentId: string, stream: AgentStream): void {
    let session: AgentSession | undefined;
    const peer = stream.getPeer();
    const log = this.st.log.child({ agent: agentId, peer });
    const refuse = (code: number, details: string) => {
      log.warn('agent stream refused', { code, details });
      try {
        stream.emit('error', { code, details });
      } catch {
        /* stream already closed */
      }
    };
    if (this.st.stopped) return refuse(Status.UNAVAILABLE, 'manager is stopping');
    const { helloTimeoutMs } = this.opts;
    const helloTimer = setTimeout(() => refuse(Status.DEADLINE_EXCEEDED, `no Hello within ${helloTimeoutMs} ms`), helloTimeoutMs);

    stream.on('data', (m: AgentMessage) => {
      try {
        if (!session) {
          if (!m.hello) return refuse(Status.FAILED_PRECONDITION, 'the first message on an agent stream must be Hello');
          clearTimeout(helloTimer);
          if (m.hello.agentId !== agentId) {
            return refuse(Status.PERMISSION_DENIED, `hello.agent_id ${echo(m.hello.agentId, "'")} does not match the certificate identity '${agentId}'`);
          }
          try {
            const h = boundHello(m.hello);
            if (h.cut) this.st.dropReport(log, h.cut, '');
            session = this.bind(agentId, stream, h.value, peer, log);
          } catch (e) {
            // Typically the store (disk full): refuse so the agent retries; nothing is bound.
            log.error('agent bind failed', { error: (e as Error).message });
            return refuse(Status.UNAVAILABLE, `manager could not record the agent: ${(e as Error).message}`);
          }
          return;
        }
        this.onMessage(session, m, log);
      } catch (e) {
        log.error('agent message handling failed', { error: (e as Error).message });
      }
    });
    const gone = (why: string) => () => {
      clearTimeout(helloTimer);
      try {
        if (session && !session.closed) this.unbind(session, why, log);
      } catch (e) {
        // A stream listener must never throw (it would take the process down).
        log.error('agent unbind failed', { error: (e as Error).message });
      }
    };
    stream.on('end', gone('stream ended'));
    stream.on('cancelled', gone('cancelled'));
    stream.on('close', gone('closed'));
    stream.on('error', (e: Error) => gone(`error: ${e.message}`)());
  }

  private bind(agentId: string, stream: AgentStream, hello: Hello, peer: string, log: Logger): AgentSession {
    const { st } = this;
    const old = st.sessions.get(agentId);
    if (old) {
      log.warn('agent reconnected while an older stream was open; replacing it');
      old.close('superseded by a new connection');
      st.sessions.remove(old);
      try {
        old.stream.emit('error', { code: Status.ABORTED, details: 'superseded by a newer stream of the same agent' });
      } catch {
        /* gone */
      }
    }
    const now = Date.now();
    const prev = st.store.getAgent(agentId);
    // Store first: if it fails (disk full) nothing in memory has changed and the caller refuses the stream.
    st.store.putAgent({
      id: agentId,
      version: hello.version,
      capabilities: hello.capabilities,
      interfaces: hello.interfaces,
      firstSeenMs: prev?.firstSeenMs ?? now,
      lastSeenMs: now,
    });
    const s = new AgentSession(agentId, stream, hello, now, peer);
    st.sessions.add(s);
    const moved = st.replicas.ownerOf(agentId);
    st.replicas.own(agentId, peer);
    // the statuses go with the ack: a replica waiting for it then shows what the agent reported
    s.onAcked = (rev) => st.replicas.acked(agentId, rev, st.store.shared ? st.statusesOf(agentId) : []);
    for (const [pid, o] of st.orphans) if (o.agentId === agentId) st.orphans.delete(pid);
    for (const r of hello.running.slice(0, LIMITS.interfaces)) {
      const stored = st.store.getPort(r.portId);
      if (r.status) r.status = boundStatus(r.status).value;
      r.fingerprint = r.fingerprint.slice(0, LIMITS.shortText);
      if (!st.ownPort(agentId, r.portId)) {
        st.dropReport(log, 'hello_foreign_port', r.portId);
      } else if (stored) {
        if (r.status) st.statuses.set(r.portId, r.status);
      } else if (r.storeId !== st.store.storeId) {
        // Running for another (or an unknown) store: a new or restored database must never
        // tear sessions down by itself. Kept as is until an operator adopts or closes it.
        st.orphans.set(r.portId, { agentId, storeId: r.storeId, fingerprint: r.fingerprint, status: r.status ?? emptyStatus(PortState.PORT_STATE_PENDING) });
        log.warn('port of another store kept running as orphaned', { port: r.portId, port_store: r.storeId || 'unknown', store: st.store.storeId });
      }
    }
    for (const p of st.store.listPorts(agentId)) {
      if (!hello.running.some((r) => r.portId === p.id)) st.statuses.set(p.id, emptyStatus(PortState.PORT_STATE_PENDING, 'agent connected; converging'));
    }
    log.info('agent bound', { version: hello.version, capabilities: hello.capabilities, running: hello.running.length, boot: hello.bootId });
    s.send({ welcome: { managerId: st.id, heartbeatIntervalMs: this.opts.heartbeatIntervalMs, storeId: st.store.storeId } });
    // Its stream at another replica is over (that replica died, or the agent left it): down there, then up here, in this order.
    if (moved)
      st.publish({
        type: EventType.EVENT_TYPE_AGENT_DOWN,
        agentId,
        message: `agent ${agentId} disconnected from manager replica ${moved.replica}: it moved to ${st.id}`,
        attributes: { replica: moved.replica },
      });
    st.publish({
      type: EventType.EVENT_TYPE_AGENT_UP,
      agentId,
      message: `agent ${agentId} connected from ${peer}`,
      attributes: { version: hello.version, running_ports: String(hello.running.length), boot_id: hello.bootId },
    });
    st.sessions.push(agentId).catch((e) => log.warn('initial desired state not acknowledged', { error: (e as Error).message }));
    this.opts.statusesChanged(agentId);
    st.shareStatuses(agentId);
    return s;
  }

  private unbind(s: AgentSession, why: string, log: Logger): void {
    const { st } = this;
    s.close(why);
    if (!st.sessions.remove(s)) return; // superseded
    st.replicas.disown(s.agentId);
    const a = st.store.getAgent(s.agentId);
    try {
      if (a) st.store.putAgent({ ...a, lastSeenMs: Date.now() });
    } catch (e) {
      // Only a timestamp: never let a store error (disk full) escape a stream listener.
      log.error('could not record agent last-seen time', { error: (e as Error).message });
    }
    for (const p of st.store.listPorts(s.agentId)) {
      const last = st.statusOf(p.id);
      st.statuses.set(p.id, {
        ...last,
        state: PortState.PORT_STATE_AGENT_DISCONNECTED,
        detail: `agent disconnected (${why}); last state ${PortState[last.state]}`,
        updatedMs: Date.now(),
      });
    }
    log.warn('agent disconnected', { reason: why });
    if (!st.stopped) {
      // Already at another replica, which reported the move: no second AGENT_DOWN after its AGENT_UP.
      if (!st.replicas.ownerOf(s.agentId))
        st.publish({ type: EventType.EVENT_TYPE_AGENT_DOWN, agentId: s.agentId, message: `agent ${s.agentId} disconnected: ${why}` });
      this.opts.statusesChanged(s.agentId);
    }
  }

  /** Records a port status; true when its state changed. */
  private setStatus(s: AgentSession, pid: string, reported: PortStatus): boolean {
    const { st } = this;
    if (!st.ownPort(s.agentId, pid)) {
      st.dropReport(st.log.child({ agent: s.agentId }), 'status_foreign_port', pid);
      return false;
    }
    if (!st.store.getPort(pid)) return false; // stale: closed meanwhile
    const b = boundStatus(reported);
    if (b.cut) st.dropReport(st.log.child({ agent: s.agentId }), b.cut, pid);
    const next = b.value;
    const prev = st.statuses.get(pid);
    st.statuses.set(pid, next);
    // A port that changed its CA (a key chain's next key took over) is re-evaluated too.
    if (prev?.state === next.state) return prev.ckn !== next.ckn;
    const channelId = () => st.store.channelOfPort(pid)?.id ?? '';
    if (next.state === PortState.PORT_STATE_SECURED)
      st.publish({
        type: EventType.EVENT_TYPE_PORT_SECURED,
        agentId: s.agentId,
        portId: pid,
        channelId: channelId(),
        message: `port ${pid} secured`,
        attributes: { key_number: String(next.keyNumber), peers: String(next.livePeers.length) },
      });
    else if (prev?.state === PortState.PORT_STATE_SECURED)
      st.publish({
        type: EventType.EVENT_TYPE_PORT_UNSECURED,
        agentId: s.agentId,
        portId: pid,
        channelId: channelId(),
        message: `port ${pid} no longer secured: ${next.detail}`,
      });
    if (next.state === PortState.PORT_STATE_FAILED)
      st.publish({ type: EventType.EVENT_TYPE_ERROR, agentId: s.agentId, portId: pid, message: `port ${pid} failed: ${next.detail}` });
    return true;
  }

  private onMessage(s: AgentSession, m: AgentMessage, log: Logger): void {
    s.lastSeenMs = Date.now();
    if (m.ack) {
      let changed = false;
      for (const r of m.ack.ports) if (r.status && this.setStatus(s, r.portId, r.status)) changed = true;
      s.acknowledge(m.ack.revision);
      if (changed) this.opts.statusesChanged(s.agentId);
      this.st.shareStatuses(s.agentId);
    } else if (m.status) {
      if (m.status.status && this.setStatus(s, m.status.portId, m.status.status)) this.opts.statusesChanged(s.agentId);
      this.st.shareStatuses(s.agentId);
    } else if (m.event) {
      this.onEvent(s, m.event);
    } else if (m.result) {
      s.result(m.result);
    } else if (m.hello) {
      log.warn('duplicate Hello ignored');
    }
  }

  private onEvent(s: AgentSession, raw: NonNullable<AgentMessage['event']>): void {
    const { st } = this;
    if (raw.portId && !st.ownPort(s.agentId, raw.portId)) return st.dropReport(st.log.child({ agent: s.agentId }), 'event_foreign_port', raw.portId);
    if (raw.portId && !st.store.getPort(raw.portId)) return;
    const { value: ev, cut } = boundEvent(raw);
    if (cut) st.dropReport(st.log.child({ agent: s.agentId }), cut, raw.portId);
    const type = EVENT_OF_KIND.get(ev.kind);
    if (type === undefined) return;
    st.publish({
      type,
      agentId: s.agentId,
      portId: ev.portId,
      channelId: ev.portId ? (st.store.channelOfPort(ev.portId)?.id ?? '') : '',
      message: ev.message || `${ev.kind} on ${ev.portId}`,
      attributes: ev.attributes,
    });
  }
}
