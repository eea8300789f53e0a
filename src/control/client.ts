/**
 * The typed, promise-based client of the manager's operator API (ManagerService), used by
 * macsecctl, the OSM adapter, the tests and the benchmark. Unary calls have a deadline (the
 * client's default or one per call) and fail with a ManagerCallError carrying the gRPC status.
 */
import {
  Metadata,
  status,
  type CallOptions,
  type ChannelCredentials,
  type ChannelOptions,
  type ClientReadableStream,
  type ClientUnaryCall,
  type ServiceError,
} from '@grpc/grpc-js';
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
  UpdateSecureChannelRequest,
  WatchEventsRequest,
  AddChannelKeyRequest,
  RetireChannelKeyRequest,
  type AddChannelKeyResponse,
  type RetireChannelKeyResponse,
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
  type UpdateSecureChannelResponse,
  type Event,
} from './gen/macsec/v1/manager.js';
import { MacsecError } from '../common/errors.js';
import { codeOfStatus } from './errors.js';
import { clientCredentials, type TlsMaterial } from './tls.js';

type DeepPartial<T> = T extends Uint8Array
  ? T
  : T extends Array<infer U>
    ? Array<DeepPartial<U>>
    : T extends object
      ? { [K in keyof T]?: DeepPartial<T[K]> }
      : T;

/** Where and as whom to reach the operator API: mutual TLS with an operator certificate. */
export interface ManagerConnection extends TlsMaterial {
  /** host:port of the manager's operator API. */
  address: string;
  /** TLS server name to verify instead of the host in `address`. */
  serverName?: string;
}

export interface ManagerApiOptions {
  /** Deadline of a unary call without its own, in ms (default 30 000). */
  timeoutMs?: number;
  /** TLS server name to verify instead of the host in the address. */
  serverName?: string;
  /** For a loopback IP address, verify the name "localhost" (default true; see channelOptionsFor). */
  loopbackAsLocalhost?: boolean;
  /** Interval of HTTP/2 keepalive pings in ms (default: grpc-js's, none). */
  keepaliveMs?: number;
  /** Largest answer accepted, in bytes (default: grpc-js's, 4 MiB). */
  maxReceiveMessageBytes?: number;
  /** Items per page when a list method fetches a whole list (default 1000). */
  listPageSize?: number;
  /** Further grpc-js channel options; they win over the ones above. */
  channelOptions?: ChannelOptions;
}

/** Channel options for a target: for loopback IPs, verify the certificate name "localhost". */
export function channelOptionsFor(address: string): ChannelOptions {
  const host = address.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return host === '127.0.0.1' || host === '::1' ? { 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' } : {};
}

function channelOptions(address: string, o: ManagerApiOptions): ChannelOptions {
  return {
    ...(o.loopbackAsLocalhost === false ? {} : channelOptionsFor(address)),
    ...(o.keepaliveMs !== undefined ? { 'grpc.keepalive_time_ms': o.keepaliveMs } : {}),
    ...(o.maxReceiveMessageBytes !== undefined ? { 'grpc.max_receive_message_length': o.maxReceiveMessageBytes } : {}),
    ...(o.serverName ? { 'grpc.ssl_target_name_override': o.serverName } : {}),
    ...o.channelOptions,
  };
}

/**
 * A failed manager call: the error code of the gRPC status (so callers branch on the same codes
 * as everywhere else), the status itself with its details and metadata, and the method, with the
 * status name in the message ("manager GetSecureChannel failed: NOT_FOUND: ...").
 */
export class ManagerCallError extends MacsecError {
  /** The gRPC status of the answer. */
  readonly status: status;
  constructor(
    readonly method: string,
    grpcStatus: status,
    readonly details: string,
    readonly metadata: Metadata = new Metadata(),
  ) {
    super(codeOfStatus(grpcStatus), `manager ${method} failed: ${status[grpcStatus] ?? grpcStatus}: ${details}`);
    this.status = grpcStatus;
  }
  /** Worth retrying: the manager was not reachable or did not answer in time. */
  get transient(): boolean {
    return this.status === status.UNAVAILABLE || this.status === status.DEADLINE_EXCEEDED;
  }
}

type UnaryMethod<Req, Res> = (req: Req, md: Metadata, opts: Partial<CallOptions>, cb: (err: ServiceError | null, res: Res) => void) => ClientUnaryCall;

/** Items per page when a client method fetches a whole list (a page of ports is about 0.6 MB). */
const LIST_PAGE_SIZE = 1000;

export class ManagerApi {
  private readonly listPageSize: number;
  readonly client: ManagerServiceClient;
  private readonly timeoutMs: number;

  /** `options` may be just the default deadline in ms; `channel` adds raw grpc-js channel options. */
  constructor(address: string, creds: ChannelCredentials, options: ManagerApiOptions | number = {}, channel: ChannelOptions = {}) {
    const o = typeof options === 'number' ? { timeoutMs: options } : options;
    this.timeoutMs = o.timeoutMs ?? 30_000;
    this.listPageSize = o.listPageSize ?? LIST_PAGE_SIZE;
    this.client = new ManagerServiceClient(address, creds, { ...channelOptions(address, o), ...channel });
  }

  /** A client over mutual TLS with `conn`'s operator certificate; the server must present a manager certificate. */
  static connect(conn: ManagerConnection, options: Omit<ManagerApiOptions, 'serverName'> = {}): ManagerApi {
    const creds = clientCredentials({ ca: conn.ca, cert: conn.cert, key: conn.key }, 'manager');
    return new ManagerApi(conn.address, creds, { ...options, ...(conn.serverName ? { serverName: conn.serverName } : {}) });
  }

  private unary<Req, Res>(method: string, fn: UnaryMethod<Req, Res>, req: Req, timeoutMs = this.timeoutMs): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      fn.call(this.client, req, new Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(new ManagerCallError(method, err.code ?? status.UNKNOWN, err.details || err.message, err.metadata));
        else resolve(res);
      });
    });
  }

  /**
   * Every page of a list call, joined (each page its own call and deadline): lists of a large
   * fabric stay under gRPC's message size limit. A page_size in the request fetches that page only.
   */
  private async allPages<Req extends { pageSize: number; pageToken: string }, Res extends { nextPageToken: string }>(
    method: string,
    fn: UnaryMethod<Req, Res>,
    req: Req,
    join: (a: Res, b: Res) => Res,
    timeoutMs?: number,
  ): Promise<Res> {
    if (req.pageSize) return this.unary(method, fn, req, timeoutMs);
    let res = await this.unary(method, fn, { ...req, pageSize: this.listPageSize }, timeoutMs);
    while (res.nextPageToken) {
      const next = await this.unary(method, fn, { ...req, pageSize: this.listPageSize, pageToken: res.nextPageToken }, timeoutMs);
      res = { ...join(res, next), nextPageToken: next.nextPageToken };
    }
    return res;
  }

  listAgents(r: DeepPartial<ListAgentsRequest> = {}, timeoutMs?: number): Promise<ListAgentsResponse> {
    return this.allPages(
      'ListAgents',
      this.client.listAgents,
      ListAgentsRequest.fromPartial(r),
      (a, b) => ({ ...a, agents: [...a.agents, ...b.agents] }),
      timeoutMs,
    );
  }
  getAgent(agentId: string, timeoutMs?: number): Promise<Agent> {
    return this.unary('GetAgent', this.client.getAgent, GetAgentRequest.fromPartial({ agentId }), timeoutMs);
  }
  openPort(r: DeepPartial<OpenPortRequest>, timeoutMs?: number): Promise<Port> {
    return this.unary('OpenPort', this.client.openPort, OpenPortRequest.fromPartial(r), timeoutMs);
  }
  listPorts(agentId = '', timeoutMs?: number): Promise<ListPortsResponse> {
    return this.allPages(
      'ListPorts',
      this.client.listPorts,
      ListPortsRequest.fromPartial({ agentId }),
      (a, b) => ({ ...a, ports: [...a.ports, ...b.ports] }),
      timeoutMs,
    );
  }
  getPort(portId: string, timeoutMs?: number): Promise<Port> {
    return this.unary('GetPort', this.client.getPort, GetPortRequest.fromPartial({ portId }), timeoutMs);
  }
  closePort(r: DeepPartial<ClosePortRequest>, timeoutMs?: number): Promise<ClosePortResponse> {
    return this.unary('ClosePort', this.client.closePort, ClosePortRequest.fromPartial(r), timeoutMs);
  }
  listOrphanedPorts(timeoutMs?: number): Promise<ListOrphanedPortsResponse> {
    return this.unary('ListOrphanedPorts', this.client.listOrphanedPorts, ListOrphanedPortsRequest.fromPartial({}), timeoutMs);
  }
  createSecureChannel(r: DeepPartial<CreateSecureChannelRequest>, timeoutMs?: number): Promise<CreateSecureChannelResponse> {
    return this.unary('CreateSecureChannel', this.client.createSecureChannel, CreateSecureChannelRequest.fromPartial(r), timeoutMs);
  }
  getSecureChannel(channelId: string, timeoutMs?: number): Promise<SecureChannel> {
    return this.unary('GetSecureChannel', this.client.getSecureChannel, GetSecureChannelRequest.fromPartial({ channelId }), timeoutMs);
  }
  listSecureChannels(timeoutMs?: number): Promise<ListSecureChannelsResponse> {
    return this.allPages(
      'ListSecureChannels',
      this.client.listSecureChannels,
      ListSecureChannelsRequest.fromPartial({}),
      (a, b) => ({ ...a, channels: [...a.channels, ...b.channels] }),
      timeoutMs,
    );
  }
  deleteSecureChannel(r: DeepPartial<DeleteSecureChannelRequest>, timeoutMs?: number): Promise<DeleteSecureChannelResponse> {
    return this.unary('DeleteSecureChannel', this.client.deleteSecureChannel, DeleteSecureChannelRequest.fromPartial(r), timeoutMs);
  }
  updateSecureChannel(r: DeepPartial<UpdateSecureChannelRequest>, timeoutMs?: number): Promise<UpdateSecureChannelResponse> {
    return this.unary('UpdateSecureChannel', this.client.updateSecureChannel, UpdateSecureChannelRequest.fromPartial(r), timeoutMs);
  }
  forceRekey(r: DeepPartial<ForceRekeyRequest>, timeoutMs?: number): Promise<ForceRekeyResponse> {
    return this.unary('ForceRekey', this.client.forceRekey, ForceRekeyRequest.fromPartial(r), timeoutMs);
  }
  addChannelKey(r: DeepPartial<AddChannelKeyRequest>, timeoutMs?: number): Promise<AddChannelKeyResponse> {
    return this.unary('AddChannelKey', this.client.addChannelKey, AddChannelKeyRequest.fromPartial(r), timeoutMs);
  }
  retireChannelKey(r: DeepPartial<RetireChannelKeyRequest>, timeoutMs?: number): Promise<RetireChannelKeyResponse> {
    return this.unary('RetireChannelKey', this.client.retireChannelKey, RetireChannelKeyRequest.fromPartial(r), timeoutMs);
  }
  watchEvents(r: DeepPartial<WatchEventsRequest> = {}): ClientReadableStream<Event> {
    return this.client.watchEvents(WatchEventsRequest.fromPartial(r));
  }
  close(): void {
    this.client.close();
  }
}
