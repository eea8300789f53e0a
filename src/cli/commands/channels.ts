/** `macsecctl channels create|get|list|update|delete` and `macsecctl rekey`. */
import { randomUUID } from 'node:crypto';
import { positionals, UsageError } from '../command.js';
import { ManagerCallError } from '../../control/client.js';
import {
  ChannelState,
  CreateSecureChannelResponse,
  ForceRekeyResponse,
  ListSecureChannelsResponse,
  SecureChannel,
  UpdateSecureChannelResponse,
} from '../../control/gen/macsec/v1/manager.js';
import { managerCommand, num, opt, short } from './manager.js';
import { keysTable } from './keys.js';
import { portState } from './ports.js';
import { ago, table } from './table.js';

const chState = (s: ChannelState) => short(ChannelState[s] ?? String(s), 'CHANNEL_STATE_');

function channelText(c: SecureChannel): string {
  const head = `channel ${c.name} (${c.id})  state ${chState(c.state)}  ckn ${c.ckn}  secured since ${ago(c.securedSinceMs)}`;
  return (
    head +
    '\n' +
    table(
      ['PORT', 'VNF', 'VNF IF', 'AGENT', 'STATE', 'PEERS', 'KS', 'KN', 'DETAIL'],
      c.endpointStatus.map((e) => [
        e.portId,
        e.endpoint!.vnfId,
        e.endpoint!.vnfInterface,
        e.agentConnected ? 'up' : 'down',
        portState(e.status!.state),
        e.status!.livePeers.length,
        e.status!.keyServer ? 'yes' : '',
        e.status!.keyNumber || '',
        e.status!.detail,
      ]),
    ) +
    (c.keys.length > 1 ? `\nkey chain:\n${keysTable(c.keys)}` : '')
  );
}

/** `--<flag> agent:switch-port:vnf-id:vnf-interface` (repeatable) as endpoints. */
function endpointsOf(values: unknown, flag: string) {
  return ((values as string[] | undefined) ?? []).map((s) => {
    const [agentId, switchPort, vnfId, vnfInterface, extra] = s.split(':');
    if (!agentId || !switchPort || !vnfId || !vnfInterface || extra !== undefined)
      throw new UsageError(`--${flag} '${s}' is not agent:switch-port:vnf-id:vnf-interface`);
    return { agentId, switchPort, vnfId, vnfInterface };
  });
}

export const channelCommands = [
  managerCommand({
    path: ['channels', 'create'],
    summary: 'Create a secure channel (returns when every authenticator is ready)',
    ...positionals('<name>', 1),
    options: {
      endpoint: { type: 'string', multiple: true, description: 'agent:switch-port:vnf-id:vnf-interface (repeatable, required)' },
      cak: { type: 'string', description: 'PSK CAK hex (default: generated and printed once)' },
      ckn: { type: 'string', description: 'PSK CKN hex' },
      'wait-secured': { type: 'boolean', description: 'also wait until every endpoint is secured' },
      'wait-timeout': { type: 'string', description: 'ms to wait for secured (default 30000)' },
      'request-id': { type: 'string', description: 'idempotency key; a retry with the same one returns the same result (default: random, printed on failure)' },
    },
    call: (api, ctx) => {
      const eps = endpointsOf(ctx.options.endpoint, 'endpoint');
      if (!eps.length) throw new UsageError('at least one --endpoint is required');
      const requestId = opt(ctx, 'request-id') ?? `macsecctl-${randomUUID()}`;
      return api
        .createSecureChannel(
          {
            requestId,
            name: ctx.positionals[0]!,
            endpoints: eps,
            ...(opt(ctx, 'cak') || opt(ctx, 'ckn') ? { psk: { cakHex: opt(ctx, 'cak') ?? '', cknHex: opt(ctx, 'ckn') ?? '' } } : {}),
            waitSecured: ctx.options['wait-secured'] === true,
            waitTimeoutMs: num(ctx, 'wait-timeout') ?? 0,
          },
          (num(ctx, 'wait-timeout') ?? 30_000) + 10_000,
        )
        .catch((e: unknown) => {
          // Unreachable or no answer in time: the channel (and a generated key) may exist although the answer was lost.
          if (e instanceof ManagerCallError && e.transient) ctx.io.err(`the outcome is unknown; retry with --request-id ${requestId} to get the same result`);
          throw e;
        });
    },
    json: (r) => CreateSecureChannelResponse.toJSON(r),
    text: (r) => {
      const lines = [`${r.created ? 'created' : 'exists'}: ${channelText(r.channel!)}`];
      if (r.generatedPsk)
        lines.push(
          '',
          `generated PSK (shown once; configure the VNF supplicants with it):`,
          `  CAK ${r.generatedPsk.cakHex}`,
          `  CKN ${r.generatedPsk.cknHex}`,
        );
      return lines.join('\n');
    },
  }),
  managerCommand({
    path: ['channels', 'get'],
    summary: 'Show a secure channel and its endpoints',
    ...positionals('<id|name>', 1),
    call: (api, ctx) => api.getSecureChannel(ctx.positionals[0]!),
    json: (c) => SecureChannel.toJSON(c),
    text: (c) => channelText(c),
  }),
  managerCommand({
    path: ['channels', 'list'],
    summary: 'List secure channels',
    call: (api) => api.listSecureChannels(),
    json: (r) => ListSecureChannelsResponse.toJSON(r),
    text: (r) =>
      table(
        ['CHANNEL', 'NAME', 'STATE', 'ENDPOINTS', 'SECURED', 'CKN'],
        r.channels.map((c) => [c.id, c.name, chState(c.state), c.endpoints.length, ago(c.securedSinceMs), c.ckn]),
      ),
  }),
  managerCommand({
    path: ['channels', 'update'],
    summary: 'Add and remove endpoints of a secure channel (the others keep their sessions)',
    ...positionals('<id|name>', 1),
    options: {
      add: { type: 'string', multiple: true, description: 'endpoint to add, agent:switch-port:vnf-id:vnf-interface (repeatable)' },
      remove: { type: 'string', multiple: true, description: 'port to remove, agent/interface (repeatable)' },
      'wait-secured': { type: 'boolean', description: 'also wait until every endpoint is secured' },
      'wait-timeout': { type: 'string', description: 'ms to wait for secured (default 30000)' },
    },
    call: (api, ctx) => {
      const add = endpointsOf(ctx.options.add, 'add');
      const remove = (ctx.options.remove as string[] | undefined) ?? [];
      if (!add.length && !remove.length) throw new UsageError('give at least one --add or --remove');
      return api.updateSecureChannel(
        {
          channelId: ctx.positionals[0]!,
          addEndpoints: add,
          removePortIds: remove,
          waitSecured: ctx.options['wait-secured'] === true,
          waitTimeoutMs: num(ctx, 'wait-timeout') ?? 0,
        },
        (num(ctx, 'wait-timeout') ?? 30_000) + 10_000,
      );
    },
    json: (r) => UpdateSecureChannelResponse.toJSON(r),
    text: (r) => {
      const parts = [r.addedPortIds.length && `added ${r.addedPortIds.join(', ')}`, r.removedPortIds.length && `removed ${r.removedPortIds.join(', ')}`];
      return `updated (${parts.filter(Boolean).join('; ')}): ${channelText(r.channel!)}`;
    },
  }),
  managerCommand({
    path: ['channels', 'delete'],
    summary: 'Delete a secure channel (ports stay open)',
    ...positionals('<id|name>', 1),
    options: { 'allow-missing': { type: 'boolean', description: 'succeed if it does not exist' } },
    call: (api, ctx) => api.deleteSecureChannel({ channelId: ctx.positionals[0]!, allowMissing: ctx.options['allow-missing'] === true }),
    json: (r) => r,
    text: (r, ctx) => (r.existed ? `deleted ${ctx.positionals[0]}` : `${ctx.positionals[0]} did not exist`),
  }),
  managerCommand({
    path: ['rekey'],
    summary: 'Force a new SAK on a channel or a port',
    options: { channel: { type: 'string', description: 'channel id or name' }, port: { type: 'string', description: 'port id agent/interface' } },
    call: (api, ctx) => api.forceRekey({ channelId: opt(ctx, 'channel') ?? '', portId: opt(ctx, 'port') ?? '' }),
    json: (r) => ForceRekeyResponse.toJSON(r),
    text: (r) =>
      table(
        ['PORT', 'OK', 'KEY SERVER', 'KN', 'ERROR'],
        r.results.map((x) => [x.portId, x.ok ? 'yes' : 'no', x.keyServer ? 'yes' : '', x.keyNumber || '', x.error]),
      ),
  }),
];
