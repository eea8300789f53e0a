/**
 * The operator API edge: manager.proto messages to and from the manager's domain types
 * (model.ts). server.ts is its only user; past it the manager works on domain types only.
 * Byte fields become hex here, and the CAK appears only in a create call's generated_psk.
 */
import {
  AddChannelKeyResponse,
  Agent,
  ChannelKey,
  ChannelKeyState,
  ChannelState,
  RetireChannelKeyResponse,
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
  type AddChannelKeyRequest,
  type RetireChannelKeyRequest,
} from '../control/gen/macsec/v1/manager.js';
import type {
  AddedKey,
  AddKeyInput,
  KeyPhase,
  KeyView,
  RetiredKey,
  RetireKeyInput,
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

export const KEY_STATE: Record<KeyPhase, ChannelKeyState> = {
  pending: ChannelKeyState.CHANNEL_KEY_STATE_PENDING,
  active: ChannelKeyState.CHANNEL_KEY_STATE_ACTIVE,
  in_use: ChannelKeyState.CHANNEL_KEY_STATE_IN_USE,
  retired: ChannelKeyState.CHANNEL_KEY_STATE_RETIRED,
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

export const addKeyInput = (r: AddChannelKeyRequest): AddKeyInput => ({
  channelId: r.channelId,
  startTimeMs: r.startTimeMs,
  lifetimeSeconds: r.lifetimeSeconds,
  requestId: r.requestId,
});

export const retireKeyInput = (r: RetireChannelKeyRequest): RetireKeyInput => ({
  channelId: r.channelId,
  cknHex: r.ckn,
  force: r.force,
  allowMissing: r.allowMissing,
});

// ---------------------------------------------------------------- responses

export const toAgent = (a: AgentView): Agent => Agent.fromPartial(a);

export const toPort = (p: PortView): Port => Port.fromPartial(p);

/** A key chain key: its CKN and times, never its CAK. */
export const toKey = (k: KeyView): ChannelKey =>
  ChannelKey.fromPartial({
    ckn: hex(k.ckn),
    startTimeMs: k.startMs,
    lifetimeSeconds: k.lifetimeS,
    state: KEY_STATE[k.state],
    createdMs: k.createdMs,
    expiresMs: k.expiresMs,
    inUsePortIds: k.inUsePortIds,
  });

export const toChannel = (c: ChannelView): SecureChannel =>
  SecureChannel.fromPartial({ ...c, state: CHANNEL_STATE[c.state], ckn: hex(c.ckn), keys: c.keys.map(toKey) });

export const toAddedKey = (r: AddedKey): AddChannelKeyResponse =>
  AddChannelKeyResponse.fromPartial({ key: toKey(r.key), channel: toChannel(r.channel), created: r.created });

export const toRetiredKey = (r: RetiredKey): RetireChannelKeyResponse =>
  RetireChannelKeyResponse.fromPartial({ existed: r.existed, key: r.key ? toKey(r.key) : undefined, channel: toChannel(r.channel) });

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
