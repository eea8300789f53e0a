import { MetricsBuilder, addPortMetrics } from '../control/metrics.js';
import type { Manager } from './manager.js';

export function renderManagerMetrics(m: Manager): string {
  const b = new MetricsBuilder();
  const connected = new Set(m.connectedAgentIds());
  for (const a of m.store.listAgents())
    b.add('macsec_agent_connected', 'gauge', '1 when the agent has a live stream to the manager', { agent: a.id }, connected.has(a.id) ? 1 : 0);
  b.add('macsec_manager_agents_connected', 'gauge', 'Connected agents', {}, connected.size);
  const channels = m.listChannels();
  for (const c of channels) {
    b.add('macsec_channel_secured', 'gauge', '1 when every endpoint of the channel is secured', { channel: c.id, name: c.name }, c.state === 'secured' ? 1 : 0);
    b.add('macsec_channel_endpoints', 'gauge', 'Endpoints of the channel', { channel: c.id, name: c.name }, c.endpoints.length);
  }
  const chOf = new Map<string, string>();
  for (const c of channels) for (const e of c.endpointStatus) chOf.set(e.portId, c.id);
  addPortMetrics(
    b,
    m.portStatuses().map((p) => ({ agent: p.port.agentId, port: p.port.interface, channel: chOf.get(p.port.id) ?? '', status: p.status })),
  );
  for (const [reason, n] of m.droppedReports)
    b.add('macsec_manager_agent_reports_dropped_total', 'counter', 'Agent reports dropped (about ports of other agents, malformed)', { reason }, n);
  b.add('macsec_manager_event_subscribers', 'gauge', 'WatchEvents streams', {}, m.events.subscriberCount);
  return b.render();
}
