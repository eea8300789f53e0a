/**
 * Operator commands of macsecctl (one per ManagerService call), readable tables or --json.
 * Connection: --server (env MACSEC_SERVER, default 127.0.0.1:50051) and the client certificate:
 * --ca/--cert/--key (env MACSEC_CA, MACSEC_CERT, MACSEC_KEY), or --pki-dir D --user NAME meaning
 * D/ca.crt and D/<NAME>.crt/.key.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { CommandContext, CommandRegistry, CommandSpec, OptionSpec } from '../command.js';
import { UsageError } from '../command.js';
import { ManagerApi } from '../../control/client.js';
import { clientCredentials, loadTls } from '../../control/tls.js';
import {
  Agent,
  ChannelState,
  CreateSecureChannelResponse,
  Event,
  EventType,
  ForceRekeyResponse,
  ListAgentsResponse,
  ListPortsResponse,
  ListOrphanedPortsResponse,
  ListSecureChannelsResponse,
  Port,
  SecureChannel,
} from '../../control/gen/macsec/v1/manager.js';
import { CipherSuite, ConfidentialityOffset, PortMode, PortState, SecurePolicy, type PortPolicy } from '../../control/gen/macsec/v1/types.js';
import { ago, table } from './table.js';
import { registerPkiCommands } from './pki.js';

const CONN: Record<string, OptionSpec> = {
  server: { type: 'string', description: 'manager address host:port (env MACSEC_SERVER; default 127.0.0.1:50051)' },
  ca: { type: 'string', description: 'CA certificate (env MACSEC_CA)' },
  cert: { type: 'string', description: 'client certificate (env MACSEC_CERT)' },
  key: { type: 'string', description: 'client key (env MACSEC_KEY)' },
  'pki-dir': { type: 'string', description: 'PKI directory: use <dir>/ca.crt and <dir>/<user>.crt/.key' },
  user: { type: 'string', description: 'certificate base name inside --pki-dir (e.g. admin-alice)' },
  timeout: { type: 'string', description: 'call timeout in ms (default 30000)' },
  json: { type: 'boolean', description: 'print JSON instead of a table' },
};

function opt(ctx: CommandContext, name: string): string | undefined {
  const v = ctx.options[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export function connect(ctx: CommandContext): ManagerApi {
  const server = opt(ctx, 'server') ?? process.env.MACSEC_SERVER ?? '127.0.0.1:50051';
  const dir = opt(ctx, 'pki-dir') ?? process.env.MACSEC_PKI_DIR;
  const user = opt(ctx, 'user') ?? process.env.MACSEC_USER;
  const ca = opt(ctx, 'ca') ?? process.env.MACSEC_CA ?? (dir ? join(dir, 'ca.crt') : undefined);
  const cert = opt(ctx, 'cert') ?? process.env.MACSEC_CERT ?? (dir && user ? join(dir, `${user}.crt`) : undefined);
  const key = opt(ctx, 'key') ?? process.env.MACSEC_KEY ?? (dir && user ? join(dir, `${user}.key`) : undefined);
  if (!ca || !cert || !key) throw new UsageError('a client certificate is required: --ca/--cert/--key or --pki-dir with --user');
  const timeout = Number(opt(ctx, 'timeout') ?? 30_000);
  return new ManagerApi(server, clientCredentials(loadTls({ ca, cert, key })), timeout);
}

async function withApi(ctx: CommandContext, fn: (api: ManagerApi) => Promise<number>): Promise<number> {
  const api = connect(ctx);
  try {
    return await fn(api);
  } catch (e) {
    const se = e as { code?: number; details?: string };
    if (typeof se.code === 'number' && se.details !== undefined) {
      const names = [
        'OK',
        'CANCELLED',
        'UNKNOWN',
        'INVALID_ARGUMENT',
        'DEADLINE_EXCEEDED',
        'NOT_FOUND',
        'ALREADY_EXISTS',
        'PERMISSION_DENIED',
        'RESOURCE_EXHAUSTED',
        'FAILED_PRECONDITION',
        'ABORTED',
        'OUT_OF_RANGE',
        'UNIMPLEMENTED',
        'INTERNAL',
        'UNAVAILABLE',
        'DATA_LOSS',
        'UNAUTHENTICATED',
      ];
      if (ctx.options.json) ctx.io.err(JSON.stringify({ error: { code: names[se.code] ?? se.code, message: se.details } }));
      else ctx.io.err(`error: ${names[se.code] ?? se.code}: ${se.details}`);
      return 1;
    }
    throw e;
  } finally {
    api.close();
  }
}

const short = (s: string, prefix: string) => s.replace(prefix, '').toLowerCase().replace(/_/g, '-');
const portState = (s: PortState) => short(PortState[s] ?? String(s), 'PORT_STATE_');
const chState = (s: ChannelState) => short(ChannelState[s] ?? String(s), 'CHANNEL_STATE_');
const mode = (m: PortMode) => short(PortMode[m] ?? String(m), 'PORT_MODE_');

function out(ctx: CommandContext, json: unknown, text: () => string): void {
  ctx.io.out(ctx.options.json ? JSON.stringify(json, null, 2) : text());
}

function portsTable(ports: Port[]): string {
  return table(
    ['PORT', 'MODE', 'STATE', 'PEERS', 'KS', 'KN', 'REKEYS', 'CHANNEL', 'OVS'],
    ports.map((p) => [
      p.id,
      mode(p.mode),
      portState(p.status!.state),
      p.status!.livePeers.length,
      p.status!.keyServer ? 'yes' : '',
      p.status!.keyNumber || '',
      p.status!.rekeys,
      p.channelId || '-',
      p.ovsBridge ? `${p.ovsBridge}${p.status!.ovsAttached ? ' (attached)' : ''}` : '-',
    ]),
  );
}

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
    )
  );
}

const CIPHERS: Record<string, CipherSuite> = {
  'gcm-aes-128': CipherSuite.CIPHER_SUITE_GCM_AES_128,
  'gcm-aes-256': CipherSuite.CIPHER_SUITE_GCM_AES_256,
  'gcm-aes-xpn-128': CipherSuite.CIPHER_SUITE_GCM_AES_XPN_128,
  'gcm-aes-xpn-256': CipherSuite.CIPHER_SUITE_GCM_AES_XPN_256,
};
const OFFSETS: Record<string, ConfidentialityOffset> = {
  '0': ConfidentialityOffset.CONFIDENTIALITY_OFFSET_0,
  '30': ConfidentialityOffset.CONFIDENTIALITY_OFFSET_30,
  '50': ConfidentialityOffset.CONFIDENTIALITY_OFFSET_50,
  none: ConfidentialityOffset.CONFIDENTIALITY_OFFSET_NONE,
};
const MODES: Record<string, PortMode> = {
  psk: PortMode.PORT_MODE_PSK,
  'eap-radius': PortMode.PORT_MODE_EAP_RADIUS,
  'eap-embedded': PortMode.PORT_MODE_EAP_EMBEDDED,
};

function num(ctx: CommandContext, name: string): number | undefined {
  const v = opt(ctx, name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer`);
  return n;
}

export const controlCommands: CommandSpec[] = [
  {
    path: ['agents', 'list'],
    summary: 'List agents (identity, version, connection, ports)',
    options: { ...CONN, connected: { type: 'boolean', description: 'only connected agents' } },
    run: (ctx) =>
      withApi(ctx, async (api) => {
        const r = await api.listAgents({ connectedOnly: ctx.options.connected === true });
        out(ctx, ListAgentsResponse.toJSON(r), () =>
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
        );
        return 0;
      }),
  },
  {
    path: ['agents', 'get'],
    summary: 'Show one agent',
    args: '<agent-id>',
    minPositionals: 1,
    maxPositionals: 1,
    options: CONN,
    run: (ctx) =>
      withApi(ctx, async (api) => {
        const a = await api.getAgent(ctx.positionals[0]!);
        out(ctx, Agent.toJSON(a), () =>
          [
            `agent ${a.id}  version ${a.version}  ${a.connected ? `connected since ${ago(a.connectedSinceMs)} from ${a.peerAddress}` : `disconnected, last seen ${ago(a.lastSeenMs)}`}`,
            `capabilities: ${a.capabilities.join(', ') || '-'}`,
            `interfaces:   ${a.interfaces.map((i) => i.name + (i.mac ? ` (${i.mac})` : '')).join(', ') || '-'}`,
            `ports:        ${a.portIds.join(', ') || '-'}`,
          ].join('\n'),
        );
        return 0;
      }),
  },
  {
    path: ['ports', 'open'],
    summary: 'Open an authenticator port on an agent (returns when the agent is ready)',
    args: '<agent-id> <interface>',
    minPositionals: 2,
    maxPositionals: 2,
    options: {
      ...CONN,
      mode: { type: 'string', description: 'psk | eap-radius | eap-embedded (required)' },
      cipher: { type: 'string', description: 'gcm-aes-128 (default) | gcm-aes-256 | gcm-aes-xpn-128 | gcm-aes-xpn-256' },
      priority: { type: 'string', description: 'key server priority 0..255 (default 16, lower wins)' },
      'should-secure': { type: 'boolean', description: 'allow unsecured traffic when MKA fails (default must-secure)' },
      'replay-window': { type: 'string', description: 'replay window in packets (default 0)' },
      offset: { type: 'string', description: 'confidentiality offset 0 | 30 | 50 | none (integrity only)' },
      'rekey-period': { type: 'string', description: 'periodic rekey in seconds (0 = off)' },
      'ovs-bridge': { type: 'string', description: 'OVS bridge to attach the secured port to' },
      'radius-server': { type: 'string', multiple: true, description: 'RADIUS server host:port (eap-radius; repeatable)' },
      'radius-secret-ref': { type: 'string', description: 'name of the RADIUS shared secret on the agent' },
    },
    run: (ctx) =>
      withApi(ctx, async (api) => {
        const m = opt(ctx, 'mode');
        if (!m || !(m in MODES)) throw new UsageError('--mode must be psk, eap-radius or eap-embedded');
        const cipher = opt(ctx, 'cipher');
        if (cipher && !(cipher in CIPHERS)) throw new UsageError(`--cipher must be one of ${Object.keys(CIPHERS).join(', ')}`);
        const offset = opt(ctx, 'offset');
        if (offset && !(offset in OFFSETS)) throw new UsageError('--offset must be 0, 30, 50 or none');
        const policy: Partial<PortPolicy> = {
          ...(cipher ? { cipherSuite: CIPHERS[cipher] } : {}),
          ...(num(ctx, 'priority') !== undefined ? { keyServerPriority: num(ctx, 'priority') } : {}),
          securePolicy: ctx.options['should-secure'] ? SecurePolicy.SECURE_POLICY_SHOULD_SECURE : SecurePolicy.SECURE_POLICY_MUST_SECURE,
          replayWindow: num(ctx, 'replay-window') ?? 0,
          ...(offset ? { confidentialityOffset: OFFSETS[offset] } : {}),
          rekeyPeriodSeconds: num(ctx, 'rekey-period') ?? 0,
        };
        const servers = (ctx.options['radius-server'] as string[] | undefined) ?? [];
        const p = await api.openPort({
          agentId: ctx.positionals[0]!,
          interface: ctx.positionals[1]!,
          mode: MODES[m],
          policy,
          ovsBridge: opt(ctx, 'ovs-bridge') ?? '',
          ...(servers.length || opt(ctx, 'radius-secret-ref')
            ? { radius: { servers, sharedSecretRef: opt(ctx, 'radius-secret-ref') ?? '', nasIdentifier: '' } }
            : {}),
        });
        out(ctx, Port.toJSON(p), () => portsTable([p]));
        return 0;
      }),
  },
  {
    path: ['ports', 'list'],
    summary: 'List ports with live MKA status',
    options: { ...CONN, agent: { type: 'string', description: 'only this agent' } },
    run: (ctx) =>
      withApi(ctx, async (api) => {
        const r = await api.listPorts(opt(ctx, 'agent') ?? '');
        out(ctx, ListPortsResponse.toJSON(r), () => portsTable(r.ports));
        return 0;
      }),
  },
  {
    path: ['ports', 'get'],
    summary: 'Show one port',
    args: '<agent-id>/<interface>',
    minPositionals: 1,
    maxPositionals: 1,
    options: CONN,
    run: (ctx) =>
      withApi(ctx, async (api) => {
        const p = await api.getPort(ctx.positionals[0]!);
        out(
          ctx,
          Port.toJSON(p),
          () =>
            portsTable([p]) +
            `\ndetail: ${p.status!.detail}\nmkpdus sent/received/dropped: ${p.status!.mkpdusSent}/${p.status!.mkpdusReceived}/${p.status!.mkpdusDropped}  icv failures: ${p.status!.icvFailures}`,
        );
        return 0;
      }),
  },
  {
    path: ['ports', 'close'],
    summary: 'Close a port',
    args: '<agent-id>/<interface>',
    minPositionals: 1,
    maxPositionals: 1,
    options: { ...CONN, 'allow-missing': { type: 'boolean', description: 'succeed if the port is not open' } },
    run: (ctx) =>
      withApi(ctx, async (api) => {
        const r = await api.closePort({ portId: ctx.positionals[0]!, allowMissing: ctx.options['allow-missing'] === true });
        out(ctx, r, () => (r.existed ? `closed ${ctx.positionals[0]}` : `${ctx.positionals[0]} was not open`));
        return 0;
      }),
  },
  {
    path: ['ports', 'orphans'],
    summary: 'List ports agents keep running for another store (adopt: ports open with the same settings; release: ports close)',
    options: CONN,
    run: (ctx) =>
      withApi(ctx, async (api) => {
        const r = await api.listOrphanedPorts();
        out(ctx, ListOrphanedPortsResponse.toJSON(r), () =>
          [
            `this manager's store: ${r.storeId}`,
            r.ports.length
              ? table(
                  ['PORT', 'AGENT', 'STATE', 'FROM STORE'],
                  r.ports.map((o) => [o.portId, o.agentId, portState(o.status?.state ?? PortState.PORT_STATE_UNSPECIFIED), o.storeId || 'unknown']),
                )
              : 'no orphaned ports',
          ].join('\n'),
        );
        return 0;
      }),
  },
  {
    path: ['channels', 'create'],
    summary: 'Create a secure channel (returns when every authenticator is ready)',
    args: '<name>',
    minPositionals: 1,
    maxPositionals: 1,
    options: {
      ...CONN,
      endpoint: { type: 'string', multiple: true, description: 'agent:switch-port:vnf-id:vnf-interface (repeatable, required)' },
      cak: { type: 'string', description: 'PSK CAK hex (default: generated and printed once)' },
      ckn: { type: 'string', description: 'PSK CKN hex' },
      'wait-secured': { type: 'boolean', description: 'also wait until every endpoint is secured' },
      'wait-timeout': { type: 'string', description: 'ms to wait for secured (default 30000)' },
      'request-id': { type: 'string', description: 'idempotency key; a retry with the same one returns the same result (default: random, printed on failure)' },
    },
    run: (ctx) =>
      withApi(ctx, async (api) => {
        const eps = ((ctx.options.endpoint as string[] | undefined) ?? []).map((s) => {
          const [agentId, switchPort, vnfId, vnfInterface, extra] = s.split(':');
          if (!agentId || !switchPort || !vnfId || !vnfInterface || extra !== undefined)
            throw new UsageError(`--endpoint '${s}' is not agent:switch-port:vnf-id:vnf-interface`);
          return { agentId, switchPort, vnfId, vnfInterface };
        });
        if (!eps.length) throw new UsageError('at least one --endpoint is required');
        const requestId = opt(ctx, 'request-id') ?? `macsecctl-${randomUUID()}`;
        const r = await api
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
          .catch((e: { code?: number }) => {
            // The channel (and a generated key) may exist although the answer was lost.
            if (e.code === 14 || e.code === 4) ctx.io.err(`the outcome is unknown; retry with --request-id ${requestId} to get the same result`);
            throw e;
          });
        out(ctx, CreateSecureChannelResponse.toJSON(r), () => {
          const lines = [`${r.created ? 'created' : 'exists'}: ${channelText(r.channel!)}`];
          if (r.generatedPsk)
            lines.push(
              '',
              `generated PSK (shown once; configure the VNF supplicants with it):`,
              `  CAK ${r.generatedPsk.cakHex}`,
              `  CKN ${r.generatedPsk.cknHex}`,
            );
          return lines.join('\n');
        });
        return 0;
      }),
  },
  {
    path: ['channels', 'get'],
    summary: 'Show a secure channel and its endpoints',
    args: '<id|name>',
    minPositionals: 1,
    maxPositionals: 1,
    options: CONN,
    run: (ctx) =>
      withApi(ctx, async (api) => {
        const c = await api.getSecureChannel(ctx.positionals[0]!);
        out(ctx, SecureChannel.toJSON(c), () => channelText(c));
        return 0;
      }),
  },
  {
    path: ['channels', 'list'],
    summary: 'List secure channels',
    options: CONN,
    run: (ctx) =>
      withApi(ctx, async (api) => {
        const r = await api.listSecureChannels();
        out(ctx, ListSecureChannelsResponse.toJSON(r), () =>
          table(
            ['CHANNEL', 'NAME', 'STATE', 'ENDPOINTS', 'SECURED', 'CKN'],
            r.channels.map((c) => [c.id, c.name, chState(c.state), c.endpoints.length, ago(c.securedSinceMs), c.ckn]),
          ),
        );
        return 0;
      }),
  },
  {
    path: ['channels', 'delete'],
    summary: 'Delete a secure channel (ports stay open)',
    args: '<id|name>',
    minPositionals: 1,
    maxPositionals: 1,
    options: { ...CONN, 'allow-missing': { type: 'boolean', description: 'succeed if it does not exist' } },
    run: (ctx) =>
      withApi(ctx, async (api) => {
        const r = await api.deleteSecureChannel({ channelId: ctx.positionals[0]!, allowMissing: ctx.options['allow-missing'] === true });
        out(ctx, r, () => (r.existed ? `deleted ${ctx.positionals[0]}` : `${ctx.positionals[0]} did not exist`));
        return 0;
      }),
  },
  {
    path: ['rekey'],
    summary: 'Force a new SAK on a channel or a port',
    options: { ...CONN, channel: { type: 'string', description: 'channel id or name' }, port: { type: 'string', description: 'port id agent/interface' } },
    run: (ctx) =>
      withApi(ctx, async (api) => {
        const r = await api.forceRekey({ channelId: opt(ctx, 'channel') ?? '', portId: opt(ctx, 'port') ?? '' });
        out(ctx, ForceRekeyResponse.toJSON(r), () =>
          table(
            ['PORT', 'OK', 'KEY SERVER', 'KN', 'ERROR'],
            r.results.map((x) => [x.portId, x.ok ? 'yes' : 'no', x.keyServer ? 'yes' : '', x.keyNumber || '', x.error]),
          ),
        );
        return 0;
      }),
  },
  {
    path: ['events'],
    summary: 'Stream events (agent up/down, secured, rekeyed, peer lost, errors); Ctrl-C to stop',
    options: {
      ...CONN,
      since: { type: 'string', description: 'replay retained events after this sequence number (default 0: all retained)' },
      agent: { type: 'string', description: 'only this agent' },
      channel: { type: 'string', description: 'only this channel id' },
      count: { type: 'string', description: 'exit after this many events' },
    },
    run: (ctx) =>
      withApi(
        ctx,
        (api) =>
          new Promise<number>((resolve, reject) => {
            const max = num(ctx, 'count');
            let n = 0;
            const s = api.watchEvents({ sinceSeq: num(ctx, 'since') ?? 0, agentId: opt(ctx, 'agent') ?? '', channelId: opt(ctx, 'channel') ?? '' });
            s.on('data', (e: Event) => {
              if (ctx.options.json) ctx.io.out(JSON.stringify(Event.toJSON(e)));
              else ctx.io.out(`${new Date(e.timeMs).toISOString()} #${e.seq} ${short(EventType[e.type] ?? String(e.type), 'EVENT_TYPE_')} ${e.message}`);
              if (max !== undefined && ++n >= max) {
                s.cancel();
                resolve(0);
              }
            });
            s.on('error', (e: { code?: number }) => (e.code === 1 ? resolve(0) : reject(e)));
            s.on('end', () => resolve(0));
          }),
      ),
  },
];

/** Adds the operator and PKI commands to macsecctl's registry. */
export function registerControlCommands(reg: CommandRegistry): CommandRegistry {
  reg.add(...controlCommands);
  return registerPkiCommands(reg);
}
