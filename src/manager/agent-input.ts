/**
 * Bounds on what an agent reports. An agent certificate is a network node's, so a compromised
 * node may send anything on its stream; everything it says is cut to sizes a real agent never
 * exceeds before the manager stores it, republishes it as an event or renders it as metrics.
 * Pure: each function returns the bounded value and whether anything had to be cut.
 */
import type { AgentEvent, Hello } from '../control/gen/macsec/v1/agent.js';
import type { PortStatus } from '../control/gen/macsec/v1/types.js';
import { COUNTER_NAME_RE, MAX_PORT_COUNTERS } from '../control/metrics.js';

export const LIMITS = {
  detail: 512,
  message: 1024,
  attributes: 32,
  attributeKey: 64,
  attributeValue: 256,
  peers: 256,
  shortText: 64,
  capabilities: 32,
  interfaces: 16_384,
} as const;

export interface Bounded<T> {
  value: T;
  /** What was cut or dropped, for the drop counter ("" = nothing). */
  cut: string;
}

const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s);

export function boundStatus(st: PortStatus): Bounded<PortStatus> {
  const cuts: string[] = [];
  const counters = st.counters.filter((c) => COUNTER_NAME_RE.test(c.name)).slice(0, MAX_PORT_COUNTERS);
  if (counters.length !== st.counters.length) cuts.push('counter_name_invalid');
  const short = (s: string) => clip(s, LIMITS.shortText);
  const value: PortStatus = {
    ...st,
    detail: clip(st.detail, LIMITS.detail),
    livePeers: st.livePeers.slice(0, LIMITS.peers).map((p) => ({ sci: short(p.sci), mi: short(p.mi) })),
    keyIdentifier: short(st.keyIdentifier),
    ckn: short(st.ckn),
    counters,
    macsecInterface: short(st.macsecInterface),
    ovsBridge: short(st.ovsBridge),
    fingerprint: short(st.fingerprint),
    runtimeId: short(st.runtimeId),
  };
  if (
    value.detail !== st.detail ||
    value.livePeers.length !== st.livePeers.length ||
    [value.keyIdentifier, value.ckn, value.macsecInterface, value.ovsBridge, value.fingerprint, value.runtimeId].join() !==
      [st.keyIdentifier, st.ckn, st.macsecInterface, st.ovsBridge, st.fingerprint, st.runtimeId].join() ||
    value.livePeers.some((p, i) => p.sci !== st.livePeers[i]!.sci || p.mi !== st.livePeers[i]!.mi)
  )
    cuts.push('status_oversized');
  return { value, cut: cuts.join(',') };
}

export function boundEvent(ev: AgentEvent): Bounded<AgentEvent> {
  const entries = Object.entries(ev.attributes).slice(0, LIMITS.attributes);
  const attributes = Object.fromEntries(entries.map(([k, v]) => [clip(k, LIMITS.attributeKey), clip(v, LIMITS.attributeValue)]));
  const value: AgentEvent = { ...ev, kind: clip(ev.kind, LIMITS.shortText), message: clip(ev.message, LIMITS.message), attributes };
  const cut =
    value.kind !== ev.kind ||
    value.message !== ev.message ||
    entries.length !== Object.keys(ev.attributes).length ||
    entries.some(([k, v]) => k.length > LIMITS.attributeKey || v.length > LIMITS.attributeValue)
      ? 'event_oversized'
      : '';
  return { value, cut };
}

/** The parts of a Hello that are stored (agent record) or shown (GetAgent). */
export function boundHello(h: Hello): Bounded<Hello> {
  const capabilities = h.capabilities.slice(0, LIMITS.capabilities).map((c) => clip(c, LIMITS.shortText));
  // Linux interface names are at most 15 bytes and MACs 17 characters.
  const interfaces = h.interfaces.slice(0, LIMITS.interfaces).map((i) => ({ name: clip(i.name, 15), mac: clip(i.mac, 17) }));
  const value: Hello = { ...h, version: clip(h.version, LIMITS.shortText), bootId: clip(h.bootId, LIMITS.shortText), capabilities, interfaces };
  const cut =
    value.version !== h.version ||
    value.bootId !== h.bootId ||
    capabilities.length !== h.capabilities.length ||
    interfaces.length !== h.interfaces.length ||
    capabilities.some((c, i) => c !== h.capabilities[i]) ||
    interfaces.some((x, i) => x.name !== h.interfaces[i]!.name || x.mac !== h.interfaces[i]!.mac)
      ? 'hello_oversized'
      : '';
  return { value, cut };
}
