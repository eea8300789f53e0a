/**
 * The manager's domain types. The operator API's messages (manager.proto) are converted to and
 * from these in convert.ts, at the gRPC edge; the shared vocabulary of types.proto (PortMode,
 * PortPolicy, PortStatus, ...) is used as is, because the store and the agents speak it too.
 */
import { PortStatus, type PortPolicy, type PortState } from '../control/gen/macsec/v1/types.js';
import type { StoredAgent, StoredPort } from './store/store.js';

/** One end of a secure channel: a port of an agent (switch side) and the VNF interface behind it. */
export interface Endpoint {
  agentId: string;
  switchPort: string;
  vnfId: string;
  vnfInterface: string;
}

export type ChannelPhase = 'pending' | 'ready' | 'secured' | 'degraded' | 'failed';

/** A known agent and, while it is connected, its session. */
export type AgentView = StoredAgent & {
  connected: boolean;
  connectedSinceMs: number;
  peerAddress: string;
  portIds: string[];
};

/** A port's configuration, as checked (requests.ts) and stored. */
export type PortSpec = Omit<StoredPort, 'id' | 'createdMs' | 'owner'>;

export type PortView = StoredPort & {
  /** "" when the port is in no channel. */
  channelId: string;
  status: PortStatus;
};

export interface EndpointView {
  endpoint: Endpoint;
  portId: string;
  agentConnected: boolean;
  status: PortStatus;
}

export interface ChannelView {
  id: string;
  name: string;
  endpoints: Endpoint[];
  state: ChannelPhase;
  endpointStatus: EndpointView[];
  createdMs: number;
  securedSinceMs: number;
  /** Not secret (it names the key on the wire); the CAK never leaves the store but to agents. */
  ckn: Uint8Array;
  owner: string;
  /** CAK key chain of the PSK endpoints (empty without PSK endpoints): current key first. */
  keys: KeyView[];
}

/** A key chain key's state (key-chain.ts keyViews); 'retired' only in a retirement's answer. */
export type KeyPhase = 'pending' | 'active' | 'in_use' | 'retired';

/** A key of a channel's key chain as the API shows it: never its CAK. */
export interface KeyView {
  ckn: Uint8Array;
  startMs: number;
  lifetimeS: number;
  createdMs: number;
  /** 0: never. */
  expiresMs: number;
  state: KeyPhase;
  /** PSK endpoints whose agents report this key's CA as their principal. */
  inUsePortIds: string[];
}

export interface OrphanView {
  portId: string;
  agentId: string;
  storeId: string;
  status: PortStatus;
}

export interface CreatedChannel {
  channel: ChannelView;
  /** Only to the call that created the channel with a generated key (and its retries). */
  generatedPsk?: { cak: Uint8Array; ckn: Uint8Array };
  created: boolean;
}

export interface UpdatedChannel {
  channel: ChannelView;
  /** Port ids of the endpoints added and removed by the call. */
  added: string[];
  removed: string[];
}

export interface AddedKey {
  key: KeyView;
  channel: ChannelView;
  created: boolean;
}

export interface RetiredKey {
  existed: boolean;
  key: KeyView | undefined;
  channel: ChannelView;
}

export interface RekeyOutcome {
  portId: string;
  ok: boolean;
  error: string;
  keyServer: boolean;
  keyNumber: number;
}

// Requests as received, unchecked: requests.ts checks and normalises them.

/** Unchecked: no policy means the defaults. */
export type OpenPortInput = Omit<PortSpec, 'policy'> & { policy: PortPolicy | undefined };

export interface ClosePortInput {
  portId: string;
  allowMissing: boolean;
}

export interface CreateChannelInput {
  name: string;
  endpoints: Endpoint[];
  psk: { cakHex: string; cknHex: string } | undefined;
  waitSecured: boolean;
  waitTimeoutMs: number;
  /** Client idempotency key ("" = none). */
  requestId: string;
}

export interface DeleteChannelInput {
  channelId: string;
  allowMissing: boolean;
}

export interface UpdateChannelInput {
  channelId: string;
  addEndpoints: Endpoint[];
  /** Port ids (`<agent_id>/<interface>`) of the endpoints to remove. */
  removePortIds: string[];
  waitSecured: boolean;
  waitTimeoutMs: number;
}

export interface AddKeyInput {
  channelId: string;
  /** 0: at once. */
  startTimeMs: number;
  /** 0: none. */
  lifetimeSeconds: number;
  requestId: string;
}

export interface RetireKeyInput {
  channelId: string;
  cknHex: string;
  force: boolean;
  allowMissing: boolean;
}

export interface ForceRekeyInput {
  channelId: string;
  portId: string;
}

/** A status that says only a state (and why): what a port has before its agent reports. */
export const emptyStatus = (state: PortState, detail = ''): PortStatus => PortStatus.fromPartial({ state, detail, updatedMs: Date.now() });
