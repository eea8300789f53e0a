/**
 * Checks and normalises operator requests before anything is looked up or changed. Pure; every
 * failure is INVALID_ARGUMENT naming the offending field, and echoes at most a bounded prefix of
 * the bad value. Checks that need the store or an agent (known, connected, owned) come after.
 */
import { echo, invalidArgument } from '../common/errors.js';
import { normalizePolicy, normalizeRadius, parseHexField, requireId, requireIfname, requireMode } from '../control/validate.js';
import { NAME_RE, NAME_RULE, REQUEST_ID_RE, REQUEST_ID_RULE } from '../common/names.js';
import { endpointKey } from './desired.js';
import type { AddKeyInput, CreateChannelInput, Endpoint, ForceRekeyInput, OpenPortInput, PortSpec, RetireKeyInput, UpdateChannelInput } from './model.js';

export const MAX_ENDPOINTS = 64;

export const checkAgentId = (field: string, agentId: string): string => requireId(field, agentId, 'an agent id');

export function checkOpenPort(req: OpenPortInput): PortSpec {
  const agentId = checkAgentId('agent_id', req.agentId);
  const iface = requireIfname('interface', req.interface);
  const mode = requireMode('mode', req.mode);
  const policy = normalizePolicy('policy', req.policy);
  if (req.ovsBridge) requireIfname('ovs_bridge', req.ovsBridge);
  const radius = normalizeRadius('radius', mode, req.radius);
  return { agentId, interface: iface, mode, policy, ovsBridge: req.ovsBridge, radius };
}

/** A port id, `<agent_id>/<interface>`. */
export function checkPortId(field: string, pid: string): string {
  if (!pid) throw invalidArgument(field, 'is required');
  const [agent, iface, extra] = pid.split('/', 3);
  if (!agent || !iface || extra !== undefined) throw invalidArgument(field, `${echo(pid, "'")} is not <agent_id>/<interface>`);
  checkAgentId(field, agent);
  requireIfname(field, iface);
  return pid;
}

/** A channel id or name (ids are names too: `ch-<hex>`). */
export function checkChannelRef(idOrName: string): string {
  if (!idOrName) throw invalidArgument('channel_id', 'is required');
  if (!NAME_RE.test(idOrName)) throw invalidArgument('channel_id', `${echo(idOrName, "'")} is not a channel id or name`);
  return idOrName;
}

export interface ChannelSpec {
  name: string;
  requestId: string;
  endpoints: Endpoint[];
  /** Given by the caller; generated when the channel is created otherwise. */
  cak: Uint8Array | undefined;
  ckn: Uint8Array | undefined;
  waitSecured: boolean;
  waitTimeoutMs: number;
}

/** A list of endpoints (field `field`): each well-formed, no port twice, at most MAX_ENDPOINTS. */
function checkEndpoints(field: string, list: readonly Endpoint[]): Endpoint[] {
  if (list.length > MAX_ENDPOINTS) throw invalidArgument(field, `at most ${MAX_ENDPOINTS} endpoints`);
  const seen = new Set<string>();
  return list.map((e, i): Endpoint => {
    const f = `${field}[${i}]`;
    checkAgentId(`${f}.agent_id`, e.agentId);
    requireIfname(`${f}.switch_port`, e.switchPort);
    requireId(`${f}.vnf_id`, e.vnfId, 'a VNF id');
    requireIfname(`${f}.vnf_interface`, e.vnfInterface);
    const k = endpointKey(e);
    if (seen.has(k)) throw invalidArgument(`${f}.switch_port`, `port '${k}' appears twice`);
    seen.add(k);
    return { agentId: e.agentId, switchPort: e.switchPort, vnfId: e.vnfId, vnfInterface: e.vnfInterface };
  });
}

export function checkCreateChannel(req: CreateChannelInput): ChannelSpec {
  if (!req.name) throw invalidArgument('name', 'is required');
  if (req.requestId && !REQUEST_ID_RE.test(req.requestId)) throw invalidArgument('request_id', `must match ${REQUEST_ID_RULE}`);
  if (!NAME_RE.test(req.name)) throw invalidArgument('name', `${echo(req.name, "'")} must match ${NAME_RULE}`);
  if (req.endpoints.length === 0) throw invalidArgument('endpoints', 'at least one endpoint is required');
  const endpoints = checkEndpoints('endpoints', req.endpoints);
  let cak: Uint8Array | undefined;
  let ckn: Uint8Array | undefined;
  if (req.psk && (req.psk.cakHex || req.psk.cknHex)) {
    cak = parseHexField('psk.cak_hex', req.psk.cakHex, 16, 32, [16, 32]);
    ckn = parseHexField('psk.ckn_hex', req.psk.cknHex, 1, 32);
  }
  return { name: req.name, requestId: req.requestId, endpoints, cak, ckn, waitSecured: req.waitSecured, waitTimeoutMs: req.waitTimeoutMs };
}

export interface ChannelUpdateSpec {
  channelId: string;
  add: Endpoint[];
  remove: string[];
  waitSecured: boolean;
  waitTimeoutMs: number;
}

/**
 * An update names a channel and at least one change; the endpoints to add are checked like a
 * create's, the ports to remove are port ids, and no port is both added and removed (that would
 * restart its session: remove it in one call, add it in another).
 */
export function checkUpdateChannel(req: UpdateChannelInput): ChannelUpdateSpec {
  const channelId = checkChannelRef(req.channelId);
  if (req.addEndpoints.length === 0 && req.removePortIds.length === 0)
    throw invalidArgument('add_endpoints', 'nothing to change: give add_endpoints, remove_port_ids or both');
  const add = checkEndpoints('add_endpoints', req.addEndpoints);
  if (req.removePortIds.length > MAX_ENDPOINTS) throw invalidArgument('remove_port_ids', `at most ${MAX_ENDPOINTS} port ids`);
  const adding = new Set(add.map(endpointKey));
  const seen = new Set<string>();
  const remove = req.removePortIds.map((pid, i) => {
    const f = `remove_port_ids[${i}]`;
    checkPortId(f, pid);
    if (seen.has(pid)) throw invalidArgument(f, `port '${pid}' appears twice`);
    if (adding.has(pid)) throw invalidArgument(f, `port '${pid}' is also in add_endpoints; a port is either added or removed`);
    seen.add(pid);
    return pid;
  });
  return { channelId, add, remove, waitSecured: req.waitSecured, waitTimeoutMs: req.waitTimeoutMs };
}

/** ForceRekey names exactly one target. */
export function checkRekeyTarget(req: ForceRekeyInput): { channelId: string } | { portId: string } {
  if (!!req.channelId === !!req.portId) throw invalidArgument('channel_id', 'exactly one of channel_id or port_id is required');
  return req.channelId ? { channelId: req.channelId } : { portId: req.portId };
}

// ---------------------------------------------------------------- CAK key chains

/** How far ahead a next key may start. */
export const MAX_KEY_START_AHEAD_MS = 366 * 86_400_000;
/** Longest key lifetime (10 years). */
export const MAX_KEY_LIFETIME_S = 315_360_000;
/** How far in the past a start time may be (the caller's clock, the call's transit). */
export const KEY_START_SLACK_MS = 5_000;

export interface AddKeySpec {
  channelId: string;
  /** 0: at once. */
  startMs: number;
  lifetimeS: number;
  requestId: string;
}

export function checkAddChannelKey(req: AddKeyInput, now: number): AddKeySpec {
  checkChannelRef(req.channelId);
  if (req.requestId && !REQUEST_ID_RE.test(req.requestId)) throw invalidArgument('request_id', `must match ${REQUEST_ID_RULE}`);
  const start = req.startTimeMs;
  if (!Number.isSafeInteger(start) || start < 0) throw invalidArgument('start_time_ms', `${start} is not a Unix time in ms`);
  if (start && start < now - KEY_START_SLACK_MS) throw invalidArgument('start_time_ms', `${new Date(start).toISOString()} is in the past (0 = at once)`);
  if (start > now + MAX_KEY_START_AHEAD_MS) throw invalidArgument('start_time_ms', `${new Date(start).toISOString()} is more than 366 days ahead`);
  const life = req.lifetimeSeconds;
  if (!Number.isInteger(life) || life < 0 || life > MAX_KEY_LIFETIME_S)
    throw invalidArgument('lifetime_seconds', `${life} must be 0 (none) or 1..${MAX_KEY_LIFETIME_S}`);
  return { channelId: req.channelId, startMs: start, lifetimeS: life, requestId: req.requestId };
}

export function checkRetireChannelKey(req: RetireKeyInput): { channelId: string; ckn: Uint8Array } {
  checkChannelRef(req.channelId);
  if (!req.cknHex) throw invalidArgument('ckn', 'is required (the CKN of the key to retire, hex)');
  return { channelId: req.channelId, ckn: parseHexField('ckn', req.cknHex, 1, 32) };
}
