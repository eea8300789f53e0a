/**
 * The adapter's view of the MACsec manager: the few operator-API calls it forwards to, behind a
 * small interface so tests (and a future different transport) can replace the gRPC client.
 * The gRPC implementation uses the ts-proto client generated from proto/macsec/v1/manager.proto
 * and mutual TLS with an operator certificate (role admin for create/delete).
 */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import {
  ManagerServiceClient,
  type CreateSecureChannelRequest,
  type CreateSecureChannelResponse,
  type DeleteSecureChannelResponse,
  type ForceRekeyResponse,
  type ListSecureChannelsResponse,
  type ClosePortResponse,
  type OpenPortRequest,
  type Port,
  type SecureChannel,
} from '../control/gen/macsec/v1/manager.js';
import { clientCredentials } from '../control/tls.js';

export interface ManagerConnection {
  /** host:port of the manager's operator API. */
  address: string;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  /** TLS server name to verify instead of the host in `address`. */
  serverName?: string;
}

export interface ManagerClient {
  createSecureChannel(req: CreateSecureChannelRequest, timeoutMs: number): Promise<CreateSecureChannelResponse>;
  getSecureChannel(channelId: string, timeoutMs: number): Promise<SecureChannel>;
  listSecureChannels(timeoutMs: number): Promise<ListSecureChannelsResponse>;
  deleteSecureChannel(channelId: string, timeoutMs: number): Promise<DeleteSecureChannelResponse>;
  forceRekey(channelId: string, timeoutMs: number): Promise<ForceRekeyResponse>;
  /** Idempotent on the manager for an identical spec. */
  openPort(req: OpenPortRequest, timeoutMs: number): Promise<Port>;
  /** With allow_missing: a port that is already gone is fine. */
  closePort(portId: string, timeoutMs: number): Promise<ClosePortResponse>;
  close(): void;
}

export type ManagerClientFactory = (conn: ManagerConnection) => ManagerClient;

/** A failed manager call, with the gRPC status name for messages ("NOT_FOUND: channel_id: ..."). */
export class ManagerCallError extends Error {
  constructor(
    readonly method: string,
    readonly code: status,
    readonly details: string,
  ) {
    super(`manager ${method} failed: ${status[code] ?? code}: ${details}`);
    this.name = 'ManagerCallError';
  }
  /** Worth retrying: the manager was not reachable or did not answer in time. */
  get transient(): boolean {
    return this.code === status.UNAVAILABLE || this.code === status.DEADLINE_EXCEEDED;
  }
}

function unary<Req, Res>(
  method: string,
  fn: (req: Req, md: Metadata, opts: { deadline: Date }, cb: (err: ServiceError | null, res: Res) => void) => unknown,
  req: Req,
  timeoutMs: number,
): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    fn(req, new Metadata(), { deadline: new Date(Date.now() + timeoutMs) }, (err, res) => {
      if (err) reject(new ManagerCallError(method, err.code ?? status.UNKNOWN, err.details || err.message));
      else resolve(res);
    });
  });
}

export const grpcManagerClient: ManagerClientFactory = (conn) => {
  const creds = clientCredentials({ ca: conn.ca, cert: conn.cert, key: conn.key }, 'manager');
  const options: Record<string, string | number> = {
    'grpc.keepalive_time_ms': 30_000,
    'grpc.max_receive_message_length': 16 << 20,
  };
  if (conn.serverName) options['grpc.ssl_target_name_override'] = conn.serverName;
  const c = new ManagerServiceClient(conn.address, creds, options);
  return {
    createSecureChannel: (req, t) => unary('CreateSecureChannel', c.createSecureChannel.bind(c), req, t),
    getSecureChannel: (id, t) => unary('GetSecureChannel', c.getSecureChannel.bind(c), { channelId: id }, t),
    listSecureChannels: (t) => unary('ListSecureChannels', c.listSecureChannels.bind(c), {}, t),
    deleteSecureChannel: (id, t) => unary('DeleteSecureChannel', c.deleteSecureChannel.bind(c), { channelId: id, allowMissing: true }, t),
    forceRekey: (id, t) => unary('ForceRekey', c.forceRekey.bind(c), { channelId: id, portId: '' }, t),
    openPort: (req, t) => unary('OpenPort', c.openPort.bind(c), req, t),
    closePort: (id, t) => unary('ClosePort', c.closePort.bind(c), { portId: id, allowMissing: true }, t),
    close: () => c.close(),
  };
};
