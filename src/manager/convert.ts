/**
 * The operator API edge: manager.proto messages to and from the manager's domain types
 * (model.ts). server.ts is its only user; past it the manager works on domain types only.
 * Byte fields become hex here, and the CAK appears only in a create call's generated_psk.
 */
import {
  Agent,
  ChannelState,
  ClosePortResponse,
  CreateSecureChannelResponse,
  DeleteSecureChannelResponse,
  ForceRekeyResponse,
  ListOrphanedPortsResponse,
  Port,
  SecureChannel,
  UpdateSecureChannelResponse,
  type ClosePortRequest,
  type CreateSecureChannelRequest,
  type DeleteSecureChannelRequest,
  type ForceRekeyRequest,
  type OpenPortRequest,
  type UpdateSecureChannelRequest,
} from '../control/gen/macsec/v1/manager.js';
import type {
  AgentView,
  ChannelPhase,
  ChannelView,
  ClosePortInput,
  CreateChannelInput,
  CreatedChannel,
  DeleteChannelInput,
  ForceRekeyInput,
  OpenPortInput,
  OrphanView,
  PortView,
  RekeyOutcome,
  UpdateChannelInput,
  UpdatedChannel,
} from './model.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

export const CHANNEL_STATE: Record<ChannelPhase, ChannelState> = {
  pending: ChannelState.CHANNEL_STATE_PENDING,
  ready: ChannelState.CHANNEL_STATE_READY,
  secured: ChannelState.CHANNEL_STATE_SECURED,
  degraded: ChannelState.CHANNEL_STATE_DEGRADED,
  failed: ChannelState.CHANNEL_STATE_FAILED,
};

// ---------------------------------------------------------------- requests

export const openPortInput = ({ agentId, interface: iface, mode, policy, ovsBridge, radius }: OpenPortRequest): OpenPortInput => ({
  agentId,
  interface: iface,
  mode,
  policy,
  ovsBridge,
  radius,
});

export const closePortInput = (r: ClosePortRequest): ClosePortInput => ({ portId: r.portId, allowMissing: r.allowMissing });

export const createChannelInput = (r: CreateSecureChannelRequest): CreateChannelInput => ({
  name: r.name,
  endpoints: r.endpoints.map((e) => ({ agentId: e.agentId, switchPort: e.switchPort, vnfId: e.vnfId, vnfInterface: e.vnfInterface })),
  psk: r.psk ? { cakHex: r.psk.cakHex, cknHex: r.psk.cknHex } : undefined,
  waitSecured: r.waitSecured,
  waitTimeoutMs: r.waitTimeoutMs,
  requestId: r.requestId,
});

export const updateChannelInput = (r: UpdateSecureChannelRequest): UpdateChannelInput => ({
  channelId: r.channelId,
  addEndpoints: r.addEndpoints.map((e) => ({ agentId: e.agentId, switchPort: e.switchPort, vnfId: e.vnfId, vnfInterface: e.vnfInterface })),
  removePortIds: r.removePortIds,
  waitSecured: r.waitSecured,
  waitTimeoutMs: r.waitTimeoutMs,
});

export const deleteChannelInput = (r: DeleteSecureChannelRequest): DeleteChannelInput => ({ channelId: r.channelId, allowMissing: r.allowMissing });

export const forceRekeyInput = (r: ForceRekeyRequest): ForceRekeyInput => ({ channelId: r.channelId, portId: r.portId });

// ---------------------------------------------------------------- responses

export const toAgent = (a: AgentView): Agent => Agent.fromPartial(a);

export const toPort = (p: PortView): Port => Port.fromPartial(p);

export const toChannel = (c: ChannelView): SecureChannel => SecureChannel.fromPartial({ ...c, state: CHANNEL_STATE[c.state], ckn: hex(c.ckn) });

export const toCreated = (r: CreatedChannel): CreateSecureChannelResponse =>
  CreateSecureChannelResponse.fromPartial({
    channel: toChannel(r.channel),
    generatedPsk: r.generatedPsk ? { cakHex: hex(r.generatedPsk.cak), cknHex: hex(r.generatedPsk.ckn) } : undefined,
    created: r.created,
  });

export const toUpdated = (r: UpdatedChannel): UpdateSecureChannelResponse =>
  UpdateSecureChannelResponse.fromPartial({ channel: toChannel(r.channel), addedPortIds: r.added, removedPortIds: r.removed });

export const toOrphans = (storeId: string, ports: OrphanView[]): ListOrphanedPortsResponse => ListOrphanedPortsResponse.fromPartial({ storeId, ports });

export const toClosed = (existed: boolean): ClosePortResponse => ClosePortResponse.fromPartial({ existed });

export const toDeleted = (existed: boolean): DeleteSecureChannelResponse => DeleteSecureChannelResponse.fromPartial({ existed });

export const toRekeyed = (results: RekeyOutcome[]): ForceRekeyResponse => ForceRekeyResponse.fromPartial({ results });
