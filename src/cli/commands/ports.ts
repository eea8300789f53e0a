/** `macsecctl ports open|list|get|close|orphans`. */
import { UsageError } from '../command.js';
import { ListOrphanedPortsResponse, ListPortsResponse, Port } from '../../control/gen/macsec/v1/manager.js';
import { CipherSuite, ConfidentialityOffset, PortMode, PortState, SecurePolicy, type PortPolicy } from '../../control/gen/macsec/v1/types.js';
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

export const portCommands = [
  managerCommand({
    path: ['ports', 'open'],
    summary: 'Open an authenticator port on an agent (returns when the agent is ready)',
    args: '<agent-id> <interface>',
    minPositionals: 2,
    maxPositionals: 2,
    options: {
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
    call: (api, ctx) => {
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
      return api.openPort({
        agentId: ctx.positionals[0]!,
        interface: ctx.positionals[1]!,
        mode: MODES[m],
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
    args: '<agent-id>/<interface>',
    minPositionals: 1,
    maxPositionals: 1,
    call: (api, ctx) => api.getPort(ctx.positionals[0]!),
    json: (p) => Port.toJSON(p),
    text: (p) =>
      portsTable([p]) +
      `\ndetail: ${p.status!.detail}\nmkpdus sent/received/dropped: ${p.status!.mkpdusSent}/${p.status!.mkpdusReceived}/${p.status!.mkpdusDropped}  icv failures: ${p.status!.icvFailures}`,
  }),
  managerCommand({
    path: ['ports', 'close'],
    summary: 'Close a port',
    args: '<agent-id>/<interface>',
    minPositionals: 1,
    maxPositionals: 1,
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
