/** `macsecctl ports open|list|get|close|orphans`. */
import { positionals, UsageError } from '../command.js';
import { ListOrphanedPortsResponse, ListPortsResponse, Port } from '../../control/gen/macsec/v1/manager.js';
import { PortMode, PortState, SecurePolicy, type PortPolicy } from '../../control/gen/macsec/v1/types.js';
import { CIPHER_SUITE_NAMES, cipherSuiteNamed, OFFSET_NAMES, offsetNamed, PORT_MODE_NAMES, portModeNamed } from '../../control/vocabulary.js';
import { managerCommand, num, opt, short } from './manager.js';
import { table } from './table.js';

export const portState = (s: PortState) => short(PortState[s] ?? String(s), 'PORT_STATE_');
const mode = (m: PortMode) => short(PortMode[m] ?? String(m), 'PORT_MODE_');

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

export const portCommands = [
  managerCommand({
    path: ['ports', 'open'],
    summary: 'Open an authenticator port on an agent (returns when the agent is ready)',
    ...positionals('<agent-id> <interface>', 2),
    options: {
      mode: { type: 'string', description: 'psk | eap-radius | eap-embedded (required)' },
      cipher: { type: 'string', description: 'gcm-aes-128 (default) | gcm-aes-256 | gcm-aes-xpn-128 | gcm-aes-xpn-256' },
      priority: { type: 'string', description: 'key server priority 0..255 (default 16, lower wins)' },
      'should-secure': { type: 'boolean', description: 'allow unsecured traffic when MKA fails (default must-secure)' },
      'replay-window': { type: 'string', description: 'replay window in packets (default 0)' },
      offset: { type: 'string', description: 'confidentiality offset 0 | none (integrity only); the Linux SecY implements no 30 or 50' },
      'rekey-period': { type: 'string', description: 'periodic rekey in seconds (0 = off)' },
      'ovs-bridge': { type: 'string', description: 'OVS bridge to attach the secured port to' },
      'radius-server': { type: 'string', multiple: true, description: 'RADIUS server host:port (eap-radius; repeatable)' },
      'radius-secret-ref': { type: 'string', description: 'name of the RADIUS shared secret on the agent' },
    },
    call: (api, ctx) => {
      const m = opt(ctx, 'mode');
      const mode = m ? portModeNamed(m) : undefined;
      if (mode === undefined) throw new UsageError(`--mode must be one of ${PORT_MODE_NAMES.join(', ')}`);
      const cipher = opt(ctx, 'cipher');
      const suite = cipher ? cipherSuiteNamed(cipher) : undefined;
      if (cipher && suite === undefined) throw new UsageError(`--cipher must be one of ${CIPHER_SUITE_NAMES.join(', ')}`);
      const offset = opt(ctx, 'offset');
      const off = offset ? offsetNamed(offset) : undefined;
      if (offset && off === undefined) throw new UsageError(`--offset must be one of ${OFFSET_NAMES.join(', ')}`);
      const policy: Partial<PortPolicy> = {
        ...(suite !== undefined ? { cipherSuite: suite } : {}),
        ...(num(ctx, 'priority') !== undefined ? { keyServerPriority: num(ctx, 'priority') } : {}),
        securePolicy: ctx.options['should-secure'] ? SecurePolicy.SECURE_POLICY_SHOULD_SECURE : SecurePolicy.SECURE_POLICY_MUST_SECURE,
        replayWindow: num(ctx, 'replay-window') ?? 0,
        ...(off !== undefined ? { confidentialityOffset: off } : {}),
        rekeyPeriodSeconds: num(ctx, 'rekey-period') ?? 0,
      };
      const servers = (ctx.options['radius-server'] as string[] | undefined) ?? [];
      return api.openPort({
        agentId: ctx.positionals[0]!,
        interface: ctx.positionals[1]!,
        mode,
        policy,
        ovsBridge: opt(ctx, 'ovs-bridge') ?? '',
        ...(servers.length || opt(ctx, 'radius-secret-ref')
          ? { radius: { servers, sharedSecretRef: opt(ctx, 'radius-secret-ref') ?? '', nasIdentifier: '' } }
          : {}),
      });
    },
    json: (p) => Port.toJSON(p),
    text: (p) => portsTable([p]),
  }),
  managerCommand({
    path: ['ports', 'list'],
    summary: 'List ports with live MKA status',
    options: { agent: { type: 'string', description: 'only this agent' } },
    call: (api, ctx) => api.listPorts(opt(ctx, 'agent') ?? ''),
    json: (r) => ListPortsResponse.toJSON(r),
    text: (r) => portsTable(r.ports),
  }),
  managerCommand({
    path: ['ports', 'get'],
    summary: 'Show one port',
    ...positionals('<agent-id>/<interface>', 1),
    call: (api, ctx) => api.getPort(ctx.positionals[0]!),
    json: (p) => Port.toJSON(p),
    text: (p) =>
      portsTable([p]) +
      `\ndetail: ${p.status!.detail}\nmkpdus sent/received/dropped: ${p.status!.mkpdusSent}/${p.status!.mkpdusReceived}/${p.status!.mkpdusDropped}  icv failures: ${p.status!.icvFailures}`,
  }),
  managerCommand({
    path: ['ports', 'close'],
    summary: 'Close a port',
    ...positionals('<agent-id>/<interface>', 1),
    options: { 'allow-missing': { type: 'boolean', description: 'succeed if the port is not open' } },
    call: (api, ctx) => api.closePort({ portId: ctx.positionals[0]!, allowMissing: ctx.options['allow-missing'] === true }),
    json: (r) => r,
    text: (r, ctx) => (r.existed ? `closed ${ctx.positionals[0]}` : `${ctx.positionals[0]} was not open`),
  }),
  managerCommand({
    path: ['ports', 'orphans'],
    summary: 'List ports agents keep running for another store (adopt: ports open with the same settings; release: ports close)',
    call: (api) => api.listOrphanedPorts(),
    json: (r) => ListOrphanedPortsResponse.toJSON(r),
    text: (r) =>
      [
        `this manager's store: ${r.storeId}`,
        r.ports.length
          ? table(
              ['PORT', 'AGENT', 'STATE', 'FROM STORE'],
              r.ports.map((o) => [o.portId, o.agentId, portState(o.status?.state ?? PortState.PORT_STATE_UNSPECIFIED), o.storeId || 'unknown']),
            )
          : 'no orphaned ports',
      ].join('\n'),
  }),
];
