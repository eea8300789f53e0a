/** `macsecctl agents list|get`. */
import { positionals } from '../command.js';
import { Agent, ListAgentsResponse } from '../../control/gen/macsec/v1/manager.js';
import { managerCommand } from './manager.js';
import { ago, table } from './table.js';

export const agentCommands = [
  managerCommand({
    path: ['agents', 'list'],
    summary: 'List agents (identity, version, connection, ports)',
    options: { connected: { type: 'boolean', description: 'only connected agents' } },
    call: (api, ctx) => api.listAgents({ connectedOnly: ctx.options.connected === true }),
    json: (r) => ListAgentsResponse.toJSON(r),
    text: (r) =>
      table(
        ['AGENT', 'VERSION', 'CONNECTED', 'SINCE', 'LAST SEEN', 'PORTS', 'CAPABILITIES'],
        r.agents.map((a) => [
          a.id,
          a.version,
          a.connected ? 'yes' : 'no',
          ago(a.connectedSinceMs),
          ago(a.lastSeenMs),
          a.portIds.length,
          a.capabilities.join(','),
        ]),
      ),
  }),
  managerCommand({
    path: ['agents', 'get'],
    summary: 'Show one agent',
    ...positionals('<agent-id>', 1),
    call: (api, ctx) => api.getAgent(ctx.positionals[0]!),
    json: (a) => Agent.toJSON(a),
    text: (a) =>
      [
        `agent ${a.id}  version ${a.version}  ${a.connected ? `connected since ${ago(a.connectedSinceMs)} from ${a.peerAddress}` : `disconnected, last seen ${ago(a.lastSeenMs)}`}`,
        `capabilities: ${a.capabilities.join(', ') || '-'}`,
        `interfaces:   ${a.interfaces.map((i) => i.name + (i.mac ? ` (${i.mac})` : '')).join(', ') || '-'}`,
        `ports:        ${a.portIds.join(', ') || '-'}`,
      ].join('\n'),
  }),
];
