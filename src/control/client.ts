/** A promise-based operator client for the manager (used by macsecctl, tests and the benchmark). */
import { Metadata, type ChannelCredentials, type ChannelOptions, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import {
  ManagerServiceClient,
  ListAgentsRequest,
  GetAgentRequest,
  OpenPortRequest,
  ListPortsRequest,
  ListOrphanedPortsRequest,
  type ListOrphanedPortsResponse,
  GetPortRequest,
  ClosePortRequest,
  CreateSecureChannelRequest,
  GetSecureChannelRequest,
  ListSecureChannelsRequest,
  DeleteSecureChannelRequest,
  ForceRekeyRequest,
  WatchEventsRequest,
  type Agent,
  type ListAgentsResponse,
  type Port,
  type ListPortsResponse,
  type ClosePortResponse,
  type CreateSecureChannelResponse,
  type SecureChannel,
  type ListSecureChannelsResponse,
  type DeleteSecureChannelResponse,
  type ForceRekeyResponse,
  type Event,
} from './gen/macsec/v1/manager.js';

type DeepPartial<T> = T extends Uint8Array
  ? T
  : T extends Array<infer U>
    ? Array<DeepPartial<U>>
    : T extends object
      ? { [K in keyof T]?: DeepPartial<T[K]> }
      : T;

/** Channel options for a target: for loopback IPs, verify the certificate name "localhost". */
export function channelOptionsFor(address: string): ChannelOptions {
  const host = address.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === '127.0.0.1' || host === '::1' ? { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' } : {};
}

export class ManagerApi {
  readonly client: ManagerServiceClient;
  constructor(
    address: string,
    creds: ChannelCredentials,
    private readonly timeoutMs = 30_000,
    options: ChannelOptions = {},
  ) {
    this.client = new ManagerServiceClient(address, creds, { ...channelOptionsFor(address), ...options });
  }

  private call<Req, Res>(method: string, req: Req, timeoutMs = this.timeoutMs): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const fn = (this.client as unknown as Record<string, (r: Req, md: Metadata, o: object, cb: (e: ServiceError | null, r: Res) => void) => void>)[method]!;
      fn.call(this.client, req, new Metadata(), { deadline: Date.now() + timeoutMs }, (e, r) => (e ? reject(e) : resolve(r)));
    });
  }

  listAgents(r: DeepPartial<ListAgentsRequest> = {}): Promise<ListAgentsResponse> {
    return this.call('listAgents', ListAgentsRequest.fromPartial(r));
  }
  getAgent(agentId: string): Promise<Agent> {
    return this.call('getAgent', GetAgentRequest.fromPartial({ agentId }));
  }
  openPort(r: DeepPartial<OpenPortRequest>): Promise<Port> {
    return this.call('openPort', OpenPortRequest.fromPartial(r));
  }
  listPorts(agentId = ''): Promise<ListPortsResponse> {
    return this.call('listPorts', ListPortsRequest.fromPartial({ agentId }));
  }
  getPort(portId: string): Promise<Port> {
    return this.call('getPort', GetPortRequest.fromPartial({ portId }));
  }
  closePort(r: DeepPartial<ClosePortRequest>): Promise<ClosePortResponse> {
    return this.call('closePort', ClosePortRequest.fromPartial(r));
  }
  listOrphanedPorts(): Promise<ListOrphanedPortsResponse> {
    return this.call('listOrphanedPorts', ListOrphanedPortsRequest.fromPartial({}));
  }
  createSecureChannel(r: DeepPartial<CreateSecureChannelRequest>, timeoutMs?: number): Promise<CreateSecureChannelResponse> {
    return this.call('createSecureChannel', CreateSecureChannelRequest.fromPartial(r), timeoutMs);
  }
  getSecureChannel(channelId: string): Promise<SecureChannel> {
    return this.call('getSecureChannel', GetSecureChannelRequest.fromPartial({ channelId }));
  }
  listSecureChannels(): Promise<ListSecureChannelsResponse> {
    return this.call('listSecureChannels', ListSecureChannelsRequest.fromPartial({}));
  }
  deleteSecureChannel(r: DeepPartial<DeleteSecureChannelRequest>): Promise<DeleteSecureChannelResponse> {
    return this.call('deleteSecureChannel', DeleteSecureChannelRequest.fromPartial(r));
  }
  forceRekey(r: DeepPartial<ForceRekeyRequest>): Promise<ForceRekeyResponse> {
    return this.call('forceRekey', ForceRekeyRequest.fromPartial(r));
  }
  watchEvents(r: DeepPartial<WatchEventsRequest> = {}): ClientReadableStream<Event> {
    return this.client.watchEvents(WatchEventsRequest.fromPartial(r));
  }
  close(): void {
    this.client.close();
  }
}
