/**
 * TEST DOUBLE of the MACsec manager's operator API (macsec.v1.ManagerService), for the OSM adapter
 * tests only. It implements just the methods the adapter calls (CreateSecureChannel, UpdateSecureChannel,
 * GetSecureChannel, ListSecureChannels, DeleteSecureChannel, ForceRekey, OpenPort, ClosePort) in memory, over the same
 * mutual TLS and operator authorization as the real manager (src/control/tls.ts, authz.ts), and
 * the manager's ownership rule: an orchestrator may change only the ports it opened and the
 * channels it created (PERMISSION_DENIED with the manager's message otherwise). It does not drive
 * agents: a created channel is READY at once and becomes SECURED after `secureAfterMs`.
 * The real manager (src/manager) is exercised by the lab demo.
 */
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { actorOf, requireOperator, type Actor } from '../../../src/control/authz.js';
import { toServiceError } from '../../../src/control/errors.js';
import {
  ChannelState,
  ManagerServiceService,
  Port,
  type CreateSecureChannelRequest,
  type CreateSecureChannelResponse,
  type OpenPortRequest,
  type SecureChannel,
  type UpdateSecureChannelRequest,
} from '../../../src/control/gen/macsec/v1/manager.js';
import { PortState } from '../../../src/control/gen/macsec/v1/types.js';
import { createCa, issue, type CaHandle, type KeyPairPem } from '../../../src/pki/pki.js';

/** The double answers with a chosen gRPC status (the real manager maps its error codes). */
class StatusError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
  }
}

export interface ManagerDoubleOptions {
  /** Delay before CreateSecureChannel answers (the "authenticators getting ready" time). */
  createDelayMs?: number;
  secureAfterMs?: number;
  /** Generate a PSK when the request has none (like PSK-mode ports). */
  generatePsk?: boolean;
}

export class ManagerServiceTestDouble {
  readonly channels = new Map<string, SecureChannel>();
  /** Open ports: id -> spec (JSON). */
  readonly ports = new Map<string, string>();
  /** Who opened each port (principal label). */
  readonly portOwners = new Map<string, string>();
  readonly calls: { method: string; principal: string; request: unknown }[] = [];
  /** Make the next N calls fail with this status. */
  failNext: { code: status; message: string; count: number } | undefined;
  private server: Server | undefined;
  private seq = 0;

  constructor(private readonly opts: ManagerDoubleOptions = {}) {}

  private handler<Req, Res>(method: string, access: 'read' | 'write', fn: (req: Req, actor: Actor) => Promise<Res> | Res) {
    return (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>) => {
      void (async () => {
        try {
          const p = requireOperator(call, access, method);
          this.calls.push({ method, principal: `${p.role}:${p.name}`, request: call.request });
          if (this.failNext && this.failNext.count > 0) {
            this.failNext.count--;
            throw new StatusError(this.failNext.code, this.failNext.message);
          }
          cb(null, await fn(call.request, actorOf(p)));
        } catch (e) {
          cb(e instanceof StatusError ? { code: e.code, details: e.message } : toServiceError(e));
        }
      })();
    };
  }

  /** The manager's rule (src/manager/manager.ts checkOwner). */
  private checkOwner(actor: Actor, owner: string, what: string): void {
    if (actor.scoped && owner !== actor.label) {
      throw new StatusError(
        status.PERMISSION_DENIED,
        `${what} is owned by ${owner || 'an administrator'}; ${actor.label} may only change ports it opened and channels it created`,
      );
    }
  }

  private find(idOrName: string): SecureChannel | undefined {
    return this.channels.get(idOrName) ?? [...this.channels.values()].find((c) => c.id === idOrName);
  }

  private refresh(ch: SecureChannel): SecureChannel {
    const secured = this.opts.secureAfterMs !== undefined && Date.now() - ch.createdMs >= this.opts.secureAfterMs;
    const state = secured ? ChannelState.CHANNEL_STATE_SECURED : ChannelState.CHANNEL_STATE_READY;
    const ps = secured ? PortState.PORT_STATE_SECURED : PortState.PORT_STATE_AUTHENTICATING;
    ch.state = state;
    ch.securedSinceMs = secured ? ch.createdMs + this.opts.secureAfterMs! : 0;
    ch.endpointStatus = ch.endpoints.map((e) => ({
      endpoint: e,
      portId: `${e.agentId}/${e.switchPort}`,
      agentConnected: true,
      status: {
        state: ps,
        detail: '',
        livePeers: [],
        keyServer: false,
        keyNumber: secured ? 1 : 0,
        keyIdentifier: '',
        ckn: ch.ckn,
        rekeys: 0,
        mkpdusSent: 0,
        mkpdusReceived: 0,
        mkpdusDropped: 0,
        icvFailures: 0,
        counters: [],
        macsecInterface: '',
        ovsBridge: '',
        ovsAttached: false,
        securedSinceMs: 0,
        updatedMs: Date.now(),
        fingerprint: '',
        runtimeId: '',
      },
    }));
    return ch;
  }

  private async create(req: CreateSecureChannelRequest, actor: Actor): Promise<CreateSecureChannelResponse> {
    if (!/^[A-Za-z0-9._-]{1,63}$/.test(req.name)) throw new StatusError(status.INVALID_ARGUMENT, 'name: must match [A-Za-z0-9._-]{1,63}');
    if (req.endpoints.length === 0) throw new StatusError(status.INVALID_ARGUMENT, 'endpoints: at least one endpoint is required');
    req.endpoints.forEach((e, i) => {
      if (e.agentId === 'unknown-agent') throw new StatusError(status.NOT_FOUND, `endpoints[${i}].agent_id: agent '${e.agentId}' is not known`);
    });
    const existing = this.channels.get(req.name);
    if (existing) {
      this.checkOwner(actor, existing.owner, `secure channel '${req.name}'`);
      if (JSON.stringify(existing.endpoints) !== JSON.stringify(req.endpoints)) {
        throw new StatusError(status.ALREADY_EXISTS, `name: channel '${req.name}' exists with other endpoints`);
      }
      return { channel: this.refresh(existing), created: false, generatedPsk: undefined };
    }
    req.endpoints.forEach((e, i) => {
      const id = `${e.agentId}/${e.switchPort}`;
      if (this.ports.has(id)) this.checkOwner(actor, this.portOwners.get(id) ?? '', `endpoints[${i}].switch_port: port '${id}'`);
    });
    if (this.opts.createDelayMs) await new Promise((r) => setTimeout(r, this.opts.createDelayMs));
    const again = this.channels.get(req.name);
    if (again) return { channel: this.refresh(again), created: false, generatedPsk: undefined };
    const ckn = randomBytes(16).toString('hex');
    const ch: SecureChannel = {
      id: `ch-${++this.seq}`,
      name: req.name,
      endpoints: req.endpoints,
      state: ChannelState.CHANNEL_STATE_PENDING,
      endpointStatus: [],
      owner: actor.label,
      createdMs: Date.now(),
      securedSinceMs: 0,
      ckn,
      keys: [],
    };
    this.channels.set(req.name, ch);
    const gen = this.opts.generatePsk && !req.psk ? { cakHex: randomBytes(16).toString('hex'), cknHex: ckn } : undefined;
    return { channel: this.refresh(ch), created: true, generatedPsk: gen };
  }

  async start(tls: { ca: KeyPairPem; server: KeyPairPem }): Promise<number> {
    const s = new Server();
    const impl: UntypedServiceImplementation = {};
    for (const k of Object.keys(ManagerServiceService)) {
      impl[k] = (_call: unknown, cb: sendUnaryData<unknown>) => cb({ code: status.UNIMPLEMENTED, details: `${k} is not implemented by the test double` });
    }
    impl.createSecureChannel = this.handler('CreateSecureChannel', 'write', (r: CreateSecureChannelRequest, a) => this.create(r, a));
    impl.getSecureChannel = this.handler('GetSecureChannel', 'read', (r: { channelId: string }) => {
      const ch = this.find(r.channelId);
      if (!ch) throw new StatusError(status.NOT_FOUND, `channel_id: no channel '${r.channelId}'`);
      return this.refresh(ch);
    });
    impl.listSecureChannels = this.handler('ListSecureChannels', 'read', () => ({
      channels: [...this.channels.values()].map((c) => this.refresh(c)),
      nextPageToken: '',
    }));
    impl.deleteSecureChannel = this.handler('DeleteSecureChannel', 'write', (r: { channelId: string; allowMissing: boolean }, a) => {
      const ch = this.find(r.channelId);
      if (!ch) {
        if (r.allowMissing) return { existed: false };
        throw new StatusError(status.NOT_FOUND, `channel_id: no channel '${r.channelId}'`);
      }
      this.checkOwner(a, ch.owner, `secure channel '${ch.name}'`);
      this.channels.delete(ch.name);
      return { existed: true };
    });
    impl.updateSecureChannel = this.handler('UpdateSecureChannel', 'write', (r: UpdateSecureChannelRequest, a) => {
      const ch = this.find(r.channelId);
      if (!ch) throw new StatusError(status.NOT_FOUND, `channel_id: secure channel '${r.channelId}' does not exist`);
      this.checkOwner(a, ch.owner, `secure channel '${ch.name}'`);
      const key = (e: { agentId: string; switchPort: string }) => `${e.agentId}/${e.switchPort}`;
      r.removePortIds.forEach((id, i) => {
        if (!ch.endpoints.some((e) => key(e) === id))
          throw new StatusError(status.FAILED_PRECONDITION, `remove_port_ids[${i}]: port '${id}' is not an endpoint of secure channel '${ch.name}'`);
      });
      r.addEndpoints.forEach((e, i) => {
        const id = key(e);
        if (this.ports.has(id)) this.checkOwner(a, this.portOwners.get(id) ?? '', `add_endpoints[${i}].switch_port: port '${id}'`);
      });
      ch.endpoints = [...ch.endpoints.filter((e) => !r.removePortIds.includes(key(e))), ...r.addEndpoints];
      return { channel: this.refresh(ch), addedPortIds: r.addEndpoints.map(key), removedPortIds: r.removePortIds };
    });
    impl.forceRekey = this.handler('ForceRekey', 'write', (r: { channelId: string }, a) => {
      const ch = this.find(r.channelId);
      if (!ch) throw new StatusError(status.NOT_FOUND, `channel_id: no channel '${r.channelId}'`);
      this.checkOwner(a, ch.owner, `secure channel '${ch.name}'`);
      return { results: ch.endpoints.map((e, i) => ({ portId: `${e.agentId}/${e.switchPort}`, ok: true, error: '', keyServer: i === 0, keyNumber: 2 })) };
    });
    impl.openPort = this.handler('OpenPort', 'write', (r: OpenPortRequest, a) => {
      const id = `${r.agentId}/${r.interface}`;
      const spec = JSON.stringify({ ...r, id });
      const prev = this.ports.get(id);
      if (prev) this.checkOwner(a, this.portOwners.get(id) ?? '', `port '${id}'`);
      if (prev && prev !== spec)
        throw new StatusError(status.ALREADY_EXISTS, `interface: port '${id}' is already open with a different configuration (close it first)`);
      this.ports.set(id, spec);
      if (!prev) this.portOwners.set(id, a.label);
      return Port.fromPartial({
        id,
        agentId: r.agentId,
        interface: r.interface,
        mode: r.mode,
        policy: r.policy,
        ovsBridge: r.ovsBridge,
        radius: r.radius,
        status: { state: PortState.PORT_STATE_READY },
        createdMs: Date.now(),
      });
    });
    impl.closePort = this.handler('ClosePort', 'write', (r: { portId: string; allowMissing: boolean }, a) => {
      if (this.ports.has(r.portId)) this.checkOwner(a, this.portOwners.get(r.portId) ?? '', `port '${r.portId}'`);
      const existed = this.ports.delete(r.portId);
      this.portOwners.delete(r.portId);
      if (!existed && !r.allowMissing) throw new StatusError(status.NOT_FOUND, `port_id: no port '${r.portId}'`);
      return { existed };
    });
    s.addService(ManagerServiceService, impl);
    const creds = ServerCredentials.createSsl(
      Buffer.from(tls.ca.certPem),
      [{ private_key: Buffer.from(tls.server.keyPem), cert_chain: Buffer.from(tls.server.certPem) }],
      true,
    );
    const port = await new Promise<number>((resolve, reject) => s.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? reject(e) : resolve(p))));
    this.server = s;
    return port;
  }

  stop(): void {
    this.server?.forceShutdown();
  }
}

/** Two PKIs, as in a real deployment: OSM's (LCM <-> EE) and the macsec deployment CA (EE -> manager). */
export interface TestPki {
  osmCa: CaHandle;
  eeServer: KeyPairPem;
  lcmClient: KeyPairPem;
  macsecCa: CaHandle;
  manager: KeyPairPem;
  operatorAdmin: KeyPairPem;
  /** What the EE uses: an orchestrator certificate (writes limited to what it created). */
  orchestrator: KeyPairPem;
  /** Another NS's orchestrator. */
  otherOrchestrator: KeyPairPem;
  operatorReadOnly: KeyPairPem;
  agent: KeyPairPem;
}

export function makeTestPki(): TestPki {
  const osmCa = createCa({ commonName: 'osm test CA' });
  const macsecCa = createCa({ commonName: 'macsec test CA' });
  return {
    osmCa,
    // The EE's server certificate (OSM issues it per NS namespace into secret ee-tls).
    eeServer: issue(osmCa, { kind: 'manager', name: 'macsec-osm-ee' }),
    lcmClient: issue(osmCa, { kind: 'admin', name: 'osm-lcm' }),
    macsecCa,
    manager: issue(macsecCa, { kind: 'manager', name: 'manager' }),
    operatorAdmin: issue(macsecCa, { kind: 'admin', name: 'osm-admin' }),
    orchestrator: issue(macsecCa, { kind: 'orchestrator', name: 'osm' }),
    otherOrchestrator: issue(macsecCa, { kind: 'orchestrator', name: 'other-ns' }),
    operatorReadOnly: issue(macsecCa, { kind: 'read-only', name: 'osm-ro' }),
    agent: issue(macsecCa, { kind: 'agent', name: 'nn1' }),
  };
}
