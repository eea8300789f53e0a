/**
 * A channel's state from its endpoints' reports. Pure: channels.ts keeps the history it needs
 * (whether the channel is secured now, whether it ever was) and publishes the transitions.
 */
import { PortState } from '../control/gen/macsec/v1/types.js';
import type { ChannelPhase, EndpointView } from './model.js';

/** Port states in which an authenticator is up and waiting for (or has) its peer. */
const UP = new Set([PortState.PORT_STATE_READY, PortState.PORT_STATE_AUTHENTICATING, PortState.PORT_STATE_SECURED]);

export interface ChannelHistory {
  /** SECURED at the last evaluation. */
  secured: boolean;
  /** Has been SECURED at some point: losing that is a degradation, not a slow start. */
  everSecured: boolean;
}

/** An endpoint whose agent is away counts as disconnected, whatever it last reported. */
export const endpointState = (e: Pick<EndpointView, 'agentConnected' | 'status'>): PortState =>
  e.agentConnected ? e.status.state : PortState.PORT_STATE_AGENT_DISCONNECTED;

export function channelPhase(endpoints: readonly Pick<EndpointView, 'agentConnected' | 'status'>[], h: ChannelHistory): ChannelPhase {
  const states = endpoints.map(endpointState);
  if (states.every((s) => s === PortState.PORT_STATE_SECURED)) return 'secured';
  if (states.some((s) => s === PortState.PORT_STATE_FAILED)) return 'failed';
  const notYet: ChannelPhase = h.everSecured ? 'degraded' : 'pending';
  // A channel that was secured is not merely "ready" again while one side re-authenticates.
  if (h.secured || states.some((s) => s === PortState.PORT_STATE_AGENT_DISCONNECTED)) return notYet;
  if (states.every((s) => UP.has(s))) return 'ready';
  return notYet;
}

/** What an evaluation changed: 'secured' and 'degraded' are published as channel events. */
export function channelTransition(phase: ChannelPhase, wasSecured: boolean): 'secured' | 'degraded' | undefined {
  if (phase === 'secured' && !wasSecured) return 'secured';
  if (phase !== 'secured' && wasSecured) return 'degraded';
  return undefined;
}

/** The ports that keep a channel from being secured. */
export const unsecuredPorts = (endpoints: readonly EndpointView[]): string[] =>
  endpoints.filter((e) => endpointState(e) !== PortState.PORT_STATE_SECURED).map((e) => e.portId);
