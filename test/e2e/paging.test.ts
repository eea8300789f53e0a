/** List calls page over gRPC (page_size/page_token), and the client joins pages into the whole list. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/managed/agent.js';
import { ManagerApi } from '../../src/control/client.js';
import { PortMode } from '../../src/control/gen/macsec/v1/types.js';
import { clientCredentials } from '../../src/control/tls.js';
import { MemoryHub } from '../../src/link/memory.js';
import { makePki, operator, rpcError, type RunningManager, simAgent, startManager, type TestPki, waitFor } from '../support/harness.js';

const ep = (agentId: string, switchPort: string) => ({ agentId, switchPort, vnfId: `v-${agentId}-${switchPort}`, vnfInterface: 'eth0' });
let pki: TestPki;
let m: RunningManager;
let agents: Agent[];
beforeAll(async () => {
  pki = makePki(['a3']);
  m = await startManager(pki);
  const hub = new MemoryHub();
  agents = ['a1', 'a2', 'a3'].map((id) => simAgent(pki, id, m.port, { hub }));
  await waitFor(() => m.manager.connectedAgentIds().length === 3, 'agents');
  const admin = operator(pki, 'alice', m.port);
  for (const a of ['a1', 'a2', 'a3']) for (const i of ['eth1', 'eth2']) await admin.openPort({ agentId: a, interface: i, mode: PortMode.PORT_MODE_PSK });
  await admin.createSecureChannel({ name: 'c1', endpoints: [ep('a1', 'eth1'), ep('a2', 'eth1')] });
  await admin.createSecureChannel({ name: 'c2', endpoints: [ep('a2', 'eth2'), ep('a3', 'eth2')] });
  await admin.createSecureChannel({ name: 'c3', endpoints: [ep('a1', 'eth2'), ep('a3', 'eth1')] });
  admin.close();
}, 60_000);
afterAll(async () => {
  await Promise.all(agents.map((a) => a.kill()));
  await m.stop();
  pki.cleanup();
});

describe('paging', () => {
  it('ListAgents, ListPorts and ListSecureChannels page one by one, and the pages join to the whole list', async () => {
    const paged = new ManagerApi(`127.0.0.1:${m.port}`, clientCredentials(pki.material('alice'), 'manager'), { listPageSize: 1 });
    const whole = operator(pki, 'alice', m.port);
    try {
      const first = await paged.listAgents({ pageSize: 2 });
      expect(first.agents.map((a) => a.id)).toEqual(['a1', 'a2']);
      expect(first.nextPageToken).not.toBe('');
      const rest = await paged.listAgents({ pageSize: 2, pageToken: first.nextPageToken });
      expect(rest.agents.map((a) => a.id)).toEqual(['a3']);
      expect(rest.nextPageToken).toBe('');
      // the client's whole-list methods, one item per call
      expect((await paged.listPorts()).ports.map((p) => p.id)).toEqual(['a1/eth1', 'a1/eth2', 'a2/eth1', 'a2/eth2', 'a3/eth1', 'a3/eth2']);
      expect((await paged.listPorts('a2')).ports.map((p) => p.id)).toEqual(['a2/eth1', 'a2/eth2']);
      expect((await paged.listSecureChannels()).channels.map((c) => c.name)).toEqual(['c1', 'c2', 'c3']);
      // the same ports as one whole-list call (configuration only: statuses are live)
      const config = (ps: { id: string; agentId: string; interface: string; mode: number; channelId: string }[]) =>
        ps.map(({ id, agentId, interface: i, mode, channelId }) => ({ id, agentId, i, mode, channelId }));
      expect(config((await paged.listPorts()).ports)).toEqual(config((await whole.listPorts()).ports));
      const e = await rpcError(paged.listAgents({ pageSize: 1, pageToken: '%%%' }));
      expect(e.details).toMatch(/^page_token: is not a token/);
    } finally {
      paged.close();
      whole.close();
    }
  });
});
