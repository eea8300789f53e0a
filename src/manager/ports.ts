/**
 * Ports: open (or adopt an orphan), close, list. A port change is pushed to its agent and
 * answered once the agent acknowledged it; a new port the agent could not open is rolled back.
 */
import { EventType } from '../control/gen/macsec/v1/manager.js';
import { PortMode, PortState } from '../control/gen/macsec/v1/types.js';
import type { Actor } from '../control/authz.js';
import { alreadyExists, echo, hasCode, failedPrecondition, notFound } from '../common/errors.js';
import { emptyStatus, type ClosePortInput, type OpenPortInput, type OrphanView, type PortView } from './model.js';
import { checkAgentId, checkOpenPort } from './requests.js';
import { stableJson } from './stable-json.js';
import type { ManagerState } from './state.js';
import { portId, type StoredPort } from './store/store.js';

export const MODE_CAPABILITY: Record<number, string> = {
  [PortMode.PORT_MODE_PSK]: 'psk',
  [PortMode.PORT_MODE_EAP_RADIUS]: 'eap-radius',
  [PortMode.PORT_MODE_EAP_EMBEDDED]: 'eap-embedded',
};

/** Why an agent lacks a mode, and how its operator gives it one. */
const MISSING_MODE_HINT: Record<number, string> = {
  [PortMode.PORT_MODE_EAP_EMBEDDED]: ' (the agent has no embedded EAP-TLS server configured: --eap-server-cert/--eap-server-key/--eap-ca)',
  [PortMode.PORT_MODE_EAP_RADIUS]: ' (the agent has no RADIUS shared secrets configured: --radius-secrets)',
};

/** Everything but who opened it and when: what "already open with the same configuration" compares. */
const configOf = (p: StoredPort) => stableJson({ ...p, createdMs: 0, owner: '' });

export class Ports {
  constructor(private readonly st: ManagerState) {}

  view(p: StoredPort): PortView {
    return {
      id: p.id,
      agentId: p.agentId,
      interface: p.interface,
      mode: p.mode,
      policy: p.policy,
      ovsBridge: p.ovsBridge,
      radius: p.radius,
      channelId: this.st.store.channelOfPort(p.id)?.id ?? '',
      status: this.st.statusOf(p.id),
      createdMs: p.createdMs,
      owner: p.owner,
    };
  }

  list(agentId: string): PortView[] {
    if (agentId) checkAgentId('agent_id', agentId);
    return this.st.store.listPorts(agentId || undefined).map((p) => this.view(p));
  }

  get(pid: string): PortView {
    return this.view(this.st.lookupPort('port_id', pid));
  }

  async open(req: OpenPortInput, actor: Actor): Promise<PortView> {
    const { st } = this;
    const { agentId, interface: iface, mode, policy, ovsBridge, radius } = checkOpenPort(req);
    const hello = st.requireConnected('agent_id', agentId);
    const ifaces = hello.interfaces;
    if (ifaces.length && !ifaces.some((i) => i.name === iface)) {
      throw notFound('interface', `agent '${agentId}' has no interface '${iface}' (has: ${echo(ifaces.map((i) => i.name).join(', '), '', 200)})`);
    }
    if (!hello.capabilities.includes(MODE_CAPABILITY[mode]!)) {
      throw failedPrecondition(
        `mode: ${PortMode[mode]} is not available on agent '${agentId}'${MISSING_MODE_HINT[mode] ?? ' (the agent has no MKA implementation)'}`,
      );
    }
    if (ovsBridge && !hello.capabilities.includes('ovs')) {
      throw failedPrecondition(`ovs_bridge: agent '${agentId}' has no Open vSwitch configured (start it with --ovsdb)`);
    }
    const id = portId(agentId, iface);
    const spec: StoredPort = { id, agentId, interface: iface, mode, policy, ovsBridge, radius, createdMs: Date.now(), owner: actor.label };
    const existing = st.store.getPort(id);
    if (existing) st.checkOwner(actor, existing.owner, `port '${id}'`);
    // Opening an orphaned port adopts it: with the same configuration its session keeps running.
    if (!existing && st.orphans.has(id)) st.checkOwner(actor, '', `orphaned port '${id}'`);
    if (existing) {
      if (configOf(existing) !== configOf(spec))
        throw alreadyExists('interface', `port '${id}' is already open with a different configuration (close it first)`);
    } else {
      st.store.putPort(spec);
      const orphan = st.orphans.get(id);
      st.orphans.delete(id);
      st.statuses.set(id, orphan?.status ?? emptyStatus(PortState.PORT_STATE_PENDING));
      if (orphan) st.log.info('orphaned port adopted', { port: id, by: actor.label, from_store: orphan.storeId });
      try {
        await st.store.flush(); // before the agent hears of it: a write another replica refused is not pushed
      } catch (e) {
        st.statuses.delete(id);
        if (orphan) st.orphans.set(id, orphan);
        throw e;
      }
    }
    // A rollback is pushed in the background: the caller is answered after one ack timeout, not
    // two (an agent that did not acknowledge the change will not acknowledge its undoing either;
    // it converges to the desired state, without the port, when it answers or reconnects).
    const rollback = () => {
      st.bestEffort('port rollback', () => st.store.deletePort(id));
      st.statuses.delete(id);
      st.push(agentId).catch((e) => st.log.warn('rollback not acknowledged', { port: id, error: (e as Error).message }));
    };
    try {
      await st.push(agentId);
    } catch (e) {
      if (!existing) rollback();
      throw e;
    }
    const status = st.statusOf(id);
    if (status.state === PortState.PORT_STATE_FAILED) {
      if (!existing) rollback();
      throw failedPrecondition(`agent '${agentId}' could not open port '${iface}': ${echo(status.detail, '', 200)}`);
    }
    if (!existing) st.publish({ type: EventType.EVENT_TYPE_PORT_OPENED, agentId, portId: id, message: `port ${id} opened (${PortMode[mode]})` });
    return this.view(st.store.getPort(id)!);
  }

  /** True when there was something to close. */
  async close(req: ClosePortInput, actor: Actor): Promise<boolean> {
    const { st } = this;
    const orphan = req.portId ? st.orphans.get(req.portId) : undefined;
    if (orphan && !st.store.getPort(req.portId)) {
      // The explicit operator action that lets an orphan go: the agent stops it.
      st.checkOwner(actor, '', `orphaned port '${req.portId}'`);
      st.orphans.delete(req.portId);
      st.log.warn('orphaned port closed', { port: req.portId, by: actor.label, from_store: orphan.storeId });
      st.publish({ type: EventType.EVENT_TYPE_PORT_CLOSED, agentId: orphan.agentId, portId: req.portId, message: `orphaned port ${req.portId} closed` });
      await st.pushIfConnected(orphan.agentId);
      return true;
    }
    let p: StoredPort;
    try {
      p = st.lookupPort('port_id', req.portId);
    } catch (e) {
      if (req.allowMissing && hasCode(e, 'not_found')) return false;
      throw e;
    }
    st.checkOwner(actor, p.owner, `port '${p.id}'`);
    const ch = st.store.channelOfPort(p.id);
    if (ch) throw failedPrecondition(`port_id: port '${p.id}' is used by secure channel '${ch.name}' (${ch.id}); delete the channel first`);
    st.store.deletePort(p.id);
    await st.store.flush();
    st.statuses.delete(p.id);
    st.publish({ type: EventType.EVENT_TYPE_PORT_CLOSED, agentId: p.agentId, portId: p.id, message: `port ${p.id} closed` });
    await st.pushIfConnected(p.agentId);
    return true;
  }

  listOrphaned(): OrphanView[] {
    return [...this.st.orphans].map(([portId, o]) => ({ portId, agentId: o.agentId, storeId: o.storeId, status: o.status }));
  }
}
