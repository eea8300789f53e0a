/** Binds the Manager to a gRPC server: operator API, agent API, health and reflection, all over mTLS. */
import {
  Server,
  status,
  type ServerCredentials,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServerDuplexStream,
  type sendUnaryData,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { AgentServiceService, type AgentMessage, type ManagerMessage } from '../control/gen/macsec/v1/agent.js';
import {
  ManagerServiceService,
  type ClosePortRequest,
  type CreateSecureChannelRequest,
  type DeleteSecureChannelRequest,
  type Event,
  type ForceRekeyRequest,
  type GetAgentRequest,
  type GetPortRequest,
  type GetSecureChannelRequest,
  type ListAgentsRequest,
  type ListPortsRequest,
  type ListSecureChannelsRequest,
  type OpenPortRequest,
  type UpdateSecureChannelRequest,
  type WatchEventsRequest,
  type AddChannelKeyRequest,
  type RetireChannelKeyRequest,
} from '../control/gen/macsec/v1/manager.js';
import { actorOf, requireAgent, requireOperator, type Access, type Actor } from '../control/authz.js';
import { toServiceError } from '../control/errors.js';
import { HealthImpl, addReflection } from '../control/health.js';
const MANAGER_SERVICES = ['macsec.v1.ManagerService', 'macsec.v1.AgentService', 'grpc.health.v1.Health'];
import type { Logger } from '../common/log.js';
import { silentLogger } from '../common/log.js';
import { principalLabel } from '../pki/identity.js';
import { WatchHub, type WatchLimits, type WatchStats } from './watch.js';
import { listenGuarded, type ConnectionLimits, type ConnectionStats } from './connections.js';
import {
  closePortInput,
  createChannelInput,
  deleteChannelInput,
  forceRekeyInput,
  openPortInput,
  toAgent,
  toChannel,
  toClosed,
  toCreated,
  toDeleted,
  toOrphans,
  toPort,
  toRekeyed,
  toUpdated,
  updateChannelInput,
  addKeyInput,
  retireKeyInput,
  toAddedKey,
  toRetiredKey,
} from './convert.js';
import type { Manager } from './manager.js';

/**
 * The manager pings every peer (HTTP/2 PING) every keepaliveTimeMs and drops a connection whose
 * peer does not answer within keepaliveTimeoutMs: a stopped or hung agent (its kernel still ACKs
 * TCP, its process answers nothing) is reported disconnected within their sum.
 */
export const DEFAULT_KEEPALIVE_TIME_MS = 5_000;
export const DEFAULT_KEEPALIVE_TIMEOUT_MS = 5_000;

export interface ManagerServerOptions extends ConnectionLimits {
  /** Interval of the manager's keepalive pings to every peer (default 5 s). */
  keepaliveTimeMs?: number;
  /** A peer that does not answer a ping within this is dropped (default 5 s). */
  keepaliveTimeoutMs?: number;
  /** WatchEvents caps (watch.ts). */
  watch?: WatchLimits;
}

function serverOptions(o: ManagerServerOptions) {
  return {
    'grpc.keepalive_time_ms': o.keepaliveTimeMs ?? DEFAULT_KEEPALIVE_TIME_MS,
    'grpc.keepalive_timeout_ms': o.keepaliveTimeoutMs ?? DEFAULT_KEEPALIVE_TIMEOUT_MS,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
    'grpc.max_receive_message_length': 4 * 1024 * 1024,
    // One connection may not carry an unbounded number of concurrent calls.
    'grpc.max_concurrent_streams': 100,
  };
}

function deadlineOf(call: { getDeadline(): Date | number }): number | undefined {
  const d = call.getDeadline();
  const ms = d instanceof Date ? d.getTime() : d;
  return Number.isFinite(ms) ? ms : undefined;
}

export function operatorHandlers(m: Manager, log: Logger, watch: WatchHub = new WatchHub(m.events, {}, log)): UntypedServiceImplementation {
  const unary =
    <Req, Res>(method: string, access: Access, fn: (req: Req, call: ServerUnaryCall<Req, Res>, actor: Actor) => Res | Promise<Res>) =>
    (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>) => {
      let who = '?';
      try {
        const p = requireOperator(call, access, method);
        who = `${p.role}:${p.name}`;
        Promise.resolve(fn(call.request, call, actorOf(p))).then(
          (r) => cb(null, r),
          (e) => {
            const se = toServiceError(e);
            log.info('operator call failed', { method, caller: who, code: status[se.code!], details: se.details });
            cb(se);
          },
        );
      } catch (e) {
        const se = toServiceError(e);
        log.warn('operator call refused', { method, code: status[se.code!], details: se.details });
        cb(se);
      }
    };
  return {
    listAgents: unary('ListAgents', 'read', (r: ListAgentsRequest) => {
      const p = m.listAgentsPage(r.connectedOnly, r.pageSize, r.pageToken);
      return { agents: p.items.map(toAgent), nextPageToken: p.nextPageToken };
    }),
    getAgent: unary('GetAgent', 'read', (r: GetAgentRequest) => toAgent(m.getAgent(r.agentId))),
    openPort: unary('OpenPort', 'write', async (r: OpenPortRequest, _c, actor) => toPort(await m.openPort(openPortInput(r), actor))),
    listPorts: unary('ListPorts', 'read', (r: ListPortsRequest) => {
      const p = m.listPortsPage(r.agentId, r.pageSize, r.pageToken);
      return { ports: p.items.map(toPort), nextPageToken: p.nextPageToken };
    }),
    getPort: unary('GetPort', 'read', (r: GetPortRequest) => toPort(m.getPort(r.portId))),
    closePort: unary('ClosePort', 'write', async (r: ClosePortRequest, _c, actor) => toClosed(await m.closePort(closePortInput(r), actor))),
    listOrphanedPorts: unary('ListOrphanedPorts', 'read', () => toOrphans(m.store.storeId, m.listOrphanedPorts())),
    createSecureChannel: unary('CreateSecureChannel', 'write', async (r: CreateSecureChannelRequest, call, actor) =>
      toCreated(await m.createChannel(createChannelInput(r), deadlineOf(call), actor)),
    ),
    getSecureChannel: unary('GetSecureChannel', 'read', (r: GetSecureChannelRequest) => toChannel(m.getChannel(r.channelId))),
    listSecureChannels: unary('ListSecureChannels', 'read', (r: ListSecureChannelsRequest) => {
      const p = m.listChannelsPage(r.pageSize, r.pageToken);
      return { channels: p.items.map(toChannel), nextPageToken: p.nextPageToken };
    }),
    deleteSecureChannel: unary('DeleteSecureChannel', 'write', async (r: DeleteSecureChannelRequest, _c, actor) =>
      toDeleted(await m.deleteChannel(deleteChannelInput(r), actor)),
    ),
    updateSecureChannel: unary('UpdateSecureChannel', 'write', async (r: UpdateSecureChannelRequest, call, actor) =>
      toUpdated(await m.updateChannel(updateChannelInput(r), deadlineOf(call), actor)),
    ),
    forceRekey: unary('ForceRekey', 'write', async (r: ForceRekeyRequest, _c, actor) => toRekeyed(await m.forceRekey(forceRekeyInput(r), actor))),
    // CAK key chains: writes, like the other channel calls (an orchestrator only on its own channels).
    addChannelKey: unary('AddChannelKey', 'write', async (r: AddChannelKeyRequest, _c, actor) => toAddedKey(await m.addChannelKey(addKeyInput(r), actor))),
    retireChannelKey: unary('RetireChannelKey', 'write', async (r: RetireChannelKeyRequest, _c, actor) =>
      toRetiredKey(await m.retireChannelKey(retireKeyInput(r), actor)),
    ),
    watchEvents: (call: ServerWritableStream<WatchEventsRequest, Event>) => {
      let who = '?';
      try {
        const p = requireOperator(call, 'read', 'WatchEvents');
        who = `${p.role}:${p.name}`;
        watch.serve(call, principalLabel(p));
      } catch (e) {
        const se = toServiceError(e);
        log.info('WatchEvents refused', { caller: who, code: status[se.code!], details: se.details });
        call.emit('error', se);
      }
    },
  };
}

export function agentHandlers(m: Manager, log: Logger): UntypedServiceImplementation {
  return {
    connect: (call: ServerDuplexStream<AgentMessage, ManagerMessage>) => {
      let agentId: string;
      try {
        agentId = requireAgent(call).id;
      } catch (e) {
        const se = toServiceError(e);
        log.warn('agent stream refused', { code: status[se.code!], details: se.details, peer: call.getPeer() });
        call.emit('error', se);
        return;
      }
      m.attachAgent(agentId, call);
    },
  };
}

export interface ManagerServer {
  server: Server;
  port: number;
  health: HealthImpl;
  /** Open connections, handshakes in progress, refusals by reason. */
  connections(): ConnectionStats;
  /** WatchEvents streams and what they hold. */
  watchStats(): WatchStats;
  shutdown(): Promise<void>;
  forceShutdown(): void;
}

/**
 * Serves the manager on `address` (host:port, [v6]:port or unix:path). `opts` bounds what a peer
 * may hold: see ConnectionLimits (connections.ts) and the keepalive options above.
 */
export async function startManagerServer(
  m: Manager,
  creds: ServerCredentials,
  address: string,
  log: Logger = silentLogger,
  opts: ManagerServerOptions = {},
): Promise<ManagerServer> {
  const server = new Server(serverOptions(opts));
  const watch = new WatchHub(m.events, opts.watch ?? {}, log);
  server.addService(ManagerServiceService, operatorHandlers(m, log, watch));
  server.addService(AgentServiceService, agentHandlers(m, log));
  const health = new HealthImpl(['macsec.v1.ManagerService', 'macsec.v1.AgentService']);
  health.addTo(server);
  addReflection(server, MANAGER_SERVICES);
  const listener = await listenGuarded(server, creds, address, opts, log);
  const port = listener.port;
  log.info('manager listening', { address, port });
  return {
    server,
    port,
    health,
    connections: () => listener.stats(),
    watchStats: () => watch.stats(),
    shutdown: () =>
      new Promise<void>((resolve) => {
        health.shutdown();
        m.stop();
        watch.close();
        listener.close();
        server.tryShutdown(() => resolve());
        setTimeout(() => {
          listener.destroyAll();
          server.forceShutdown();
          resolve();
        }, 2000).unref();
      }),
    forceShutdown: () => {
      m.stop();
      watch.close();
      listener.destroyAll();
      server.forceShutdown();
    },
  };
}
