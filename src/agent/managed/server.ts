/** The agent's own gRPC endpoint (mTLS): standard health and server reflection, plus /metrics over HTTP. */
import { Server, type ServerCredentials } from '@grpc/grpc-js';
import { HealthImpl, addReflection } from '../../control/health.js';
import { MetricsBuilder, addPortMetrics } from '../../control/metrics.js';
import type { Agent } from './agent.js';

export async function startAgentServer(
  creds: ServerCredentials,
  address: string,
): Promise<{ server: Server; port: number; health: HealthImpl; close(): void }> {
  const server = new Server();
  const health = new HealthImpl(['macsec.v1.Agent']);
  health.addTo(server);
  addReflection(server, ['grpc.health.v1.Health']);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync(address, creds, (e, p) => (e ? reject(e) : resolve(p))));
  return { server, port, health, close: () => server.forceShutdown() };
}

export function renderAgentMetrics(agent: Agent): string {
  const b = new MetricsBuilder();
  b.add('macsec_agent_manager_connected', 'gauge', '1 when the stream to the manager is up', { agent: agent.id }, agent.state === 'connected' ? 1 : 0);
  b.add('macsec_agent_manager_connects_total', 'counter', 'Stream (re)connections', { agent: agent.id }, agent.connects);
  addPortMetrics(
    b,
    [...agent.ports.values()].map((p) => ({ agent: agent.id, port: p.desired.interface, channel: p.desired.channelId, status: p.status() })),
  );
  return b.render();
}
