/**
 * The create- and update-secure-channel parameters as manager requests (pure): the channel name,
 * its endpoints (list or flat form), the ports to open first, key material in hex. Every problem is
 * a ParamError naming the parameter; key material is never echoed.
 */
import type { Endpoint, OpenPortRequest } from '../control/gen/macsec/v1/manager.js';
import { CipherSuite, PortMode, type PortPolicy, type RadiusSettings } from '../control/gen/macsec/v1/types.js';
import { CIPHER_SUITE_NAMES, cipherSuiteNamed, portModeNamed } from '../control/vocabulary.js';
import { IFNAME_RE, IFNAME_RULE, NAME_RE, NAME_RULE } from '../common/names.js';
import { clip, ParamError, type Params, paramsOf } from './params.js';
import { ScopeError, UNAUTH } from './replies.js';

export function channelName(p: Params): string {
  return p.str(['channel_name', 'channel', 'channel_id'], { required: true, pattern: NAME_RE, patternText: NAME_RULE })!;
}

/**
 * The endpoints named by `<prefix>endpoints` (list form) or `<prefix>switch_ports` (flat form,
 * with `agent_id`, `vnf_id` and `<prefix>vnf_interfaces`). `optional`: neither given means none.
 */
export function endpointsOf(
  p: Params,
  defaults: { vnfId?: string | undefined; agentId?: string | undefined },
  opts: { prefix?: string; optional?: boolean } = {},
): Endpoint[] {
  const pre = opts.prefix ?? '';
  const idText = NAME_RULE;
  const ifText = `an interface name (${IFNAME_RULE})`;
  // The forms not taken count as read when empty (a VNFD declares them all with empty defaults), so
  // only a value that is really set and not used is reported as ignored.
  for (const k of ['endpoints', 'switch_ports', 'switch_port', 'vnf_interfaces', 'vnf_interface']) if (!p.has(`${pre}${k}`)) p.raw(`${pre}${k}`);
  if (opts.optional && !p.has(`${pre}endpoints`) && !p.has(`${pre}switch_ports`) && !p.has(`${pre}switch_port`)) return [];
  const defVnf = p.str('vnf_id', { pattern: NAME_RE, patternText: idText }) ?? defaults.vnfId ?? '';
  const defAgent = p.str('agent_id', { pattern: NAME_RE, patternText: idText }) ?? defaults.agentId;
  const list = p.list(`${pre}endpoints`);
  if (list) {
    if (list.length === 0) throw new ParamError(`parameter '${pre}endpoints' must list at least one endpoint`);
    return list.map((raw, i) => {
      const q = paramsOf(raw, `${pre}endpoints[${i}]`);
      const agentId = q.str('agent_id', { pattern: NAME_RE, patternText: idText }) ?? defAgent;
      if (!agentId) throw new ParamError(`parameter '${pre}endpoints[${i}].agent_id' is required (or give a default agent_id)`);
      const ep: Endpoint = {
        agentId,
        switchPort: q.str(['switch_port', 'port'], { required: true, pattern: IFNAME_RE, patternText: ifText })!,
        vnfId: q.str('vnf_id', { pattern: NAME_RE, patternText: idText }) ?? defVnf,
        vnfInterface: q.str(['vnf_interface', 'interface'], { pattern: IFNAME_RE, patternText: ifText }) ?? '',
      };
      const extra = q.unused();
      if (extra.length)
        throw new ParamError(
          `${pre}endpoints[${i}] has unknown fields: ${extra
            .slice(0, 5)
            .map((k) => clip(k, 40))
            .join(', ')} (known: agent_id, switch_port, vnf_id, vnf_interface)`,
        );
      return ep;
    });
  }
  // Flat form, convenient in a VNFD: one agent, parallel lists of switch ports and VNF interfaces.
  if (!defAgent) throw new ParamError(`parameter 'agent_id' is required (or give '${pre}endpoints')`);
  const ports = p.list([`${pre}switch_ports`, `${pre}switch_port`]);
  if (!ports || ports.length === 0) throw new ParamError(`parameter '${pre}switch_ports' is required (or give '${pre}endpoints')`);
  const ifs = p.list([`${pre}vnf_interfaces`, `${pre}vnf_interface`]) ?? [];
  if (ifs.length !== 0 && ifs.length !== ports.length) {
    throw new ParamError(`parameter '${pre}vnf_interfaces' lists ${ifs.length} interfaces for ${ports.length} switch ports`);
  }
  return ports.map((sp, i) => {
    const s = String(sp);
    if (!IFNAME_RE.test(s)) throw new ParamError(`parameter '${pre}switch_ports[${i}]' ${JSON.stringify(clip(s))} must be ${ifText}`);
    const vi = ifs[i] === undefined ? '' : String(ifs[i]);
    if (vi && !IFNAME_RE.test(vi)) throw new ParamError(`parameter '${pre}vnf_interfaces[${i}]' ${JSON.stringify(clip(vi))} must be ${ifText}`);
    return { agentId: defAgent, switchPort: s, vnfId: defVnf, vnfInterface: vi };
  });
}

/**
 * Optional: the authenticator ports to open before the channel (`port_mode` set). The manager's
 * OpenPort is idempotent for an identical spec, so a retried primitive opens nothing twice.
 */
export function portSpecsOf(p: Params, endpoints: Endpoint[], authenticated: boolean): OpenPortRequest[] {
  const modeText = p.str('port_mode', { pattern: /^(psk|eap-radius|eap-embedded)$/i, patternText: 'one of psk, eap-radius, eap-embedded' });
  // RADIUS servers decide admission and supply the session keys: not from an unauthenticated caller.
  if (!authenticated && (modeText?.toLowerCase() === 'eap-radius' || p.has('radius_servers') || p.has('radius_secret_ref'))) {
    throw new ScopeError(`port_mode eap-radius (RADIUS servers): ${UNAUTH} may not choose the servers that hand out keys; use mutual TLS`);
  }
  const extras = ['ovs_bridge', 'cipher_suite', 'key_server_priority', 'rekey_period_seconds', 'radius_servers', 'radius_secret_ref', 'nas_identifier'].filter(
    (k) => p.has(k),
  );
  if (!modeText) {
    if (extras.length)
      throw new ParamError(
        `parameter${extras.length > 1 ? 's' : ''} ${extras.join(', ')} need${extras.length > 1 ? '' : 's'} 'port_mode' (the EE opens ports only when port_mode is given)`,
      );
    return [];
  }
  const mode = portModeNamed(modeText)!;
  const suiteText = p.str('cipher_suite', {
    pattern: /^gcm-aes-(xpn-)?(128|256)$/i,
    patternText: `one of ${CIPHER_SUITE_NAMES.join(', ')}`,
  });
  const policy: PortPolicy = {
    cipherSuite: suiteText ? cipherSuiteNamed(suiteText)! : CipherSuite.CIPHER_SUITE_UNSPECIFIED,
    keyServerPriority: p.int('key_server_priority', { min: 0, max: 255 }),
    securePolicy: 0,
    replayWindow: 0,
    confidentialityOffset: 0,
    rekeyPeriodSeconds: p.int('rekey_period_seconds', { min: 0, max: 86_400 * 30, default: 0 })!,
  };
  const bridge = p.str('ovs_bridge', { pattern: IFNAME_RE, patternText: `a bridge name (${IFNAME_RULE})` }) ?? '';
  let radius: RadiusSettings | undefined;
  if (mode === PortMode.PORT_MODE_EAP_RADIUS) {
    const servers = (p.list('radius_servers', { required: true }) ?? []).map(String);
    radius = { servers, sharedSecretRef: p.str('radius_secret_ref', { required: true })!, nasIdentifier: p.str('nas_identifier') ?? '' };
  }
  const seen = new Set<string>();
  const out: OpenPortRequest[] = [];
  for (const e of endpoints) {
    const k = `${e.agentId}/${e.switchPort}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ agentId: e.agentId, interface: e.switchPort, mode, policy, ovsBridge: bridge, radius });
  }
  return out;
}

/** Key material in hex as the manager accepts it: octets, optionally separated by space, ':' or '-'. */
export function hexOctets(p: Params, name: string, lens: number[] | [number, number], rule: string): string | undefined {
  const v = p.str(name, { secret: true });
  if (v === undefined) return undefined;
  const clean = v.replace(/[\s:-]/g, '');
  const n = clean.length / 2;
  const lenOk = lens.length === 2 && lens[0]! < lens[1]! - 1 ? n >= lens[0]! && n <= lens[1]! : lens.includes(n);
  if (!/^([0-9A-Fa-f]{2})+$/.test(clean) || !lenOk) throw new ParamError(`parameter '${name}' must be ${rule} (the value is secret and not shown)`);
  return clean.toLowerCase();
}
