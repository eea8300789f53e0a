/**
 * The primitives this execution environment runs for OSM's LCM.
 *
 * Every primitive resolves to exactly one final reply (OK or ERROR) and may send PROCESSING
 * replies before it; LCM keeps only the last reply, so a primitive never ends on PROCESSING unless
 * its work is really done. Handlers are idempotent: LCM retries a primitive when the connection
 * drops, so the same request may arrive twice, or while the first is still running (the second
 * then joins the first).
 *
 *   config                  manager address + operator credentials (only OK passes for config)
 *   health-check            OK while the EE serves
 *   create-secure-channel   CreateSecureChannel on the manager; OK only after the manager acknowledged
 *   update-secure-channel   UpdateSecureChannel: add endpoints (scale-out) and remove them (scale-in)
 *   channel-status          GetSecureChannel; optionally wait for / require a state
 *   delete-secure-channel   DeleteSecureChannel (missing = already done)
 *   force-rekey             ForceRekey on a channel
 *   add-channel-key         AddChannelKey: a next key for a PSK channel (key-primitives.ts)
 *   retire-channel-key      RetireChannelKey: the old key(s) once the next is in use (key-primitives.ts)
 *
 * Who may do what. An authenticated caller (mutual TLS with a client certificate from OSM's CA,
 * i.e. LCM) may run everything; what it may change on the manager is bounded by this EE's
 * orchestrator certificate (the manager refuses writes to channels and ports the orchestrator did
 * not create, and such refusals are reported naming the channel or port). An unauthenticated
 * caller (plaintext, only with --allow-plaintext) may run health-check, confirm the configuration
 * without changing it, create channels without caller-supplied keys (no psk_cak_hex/psk_ckn_hex, no
 * eap-radius servers), and read, update, rekey, delete or close only the channels and ports this EE
 * created (owned.ts).
 *
 * No reply or log line carries a secret: malformed key parameters are named with their rule, never
 * echoed; other values are echoed as at most a short prefix (params.ts clip); messages from the
 * manager are scrubbed of the request's key material.
 */
import { status } from '@grpc/grpc-js';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import type { Logger } from '../common/log.js';
import { ChannelState, type CreateSecureChannelRequest, type Endpoint, type SecureChannel } from '../control/gen/macsec/v1/manager.js';
import {
  type ConfigStore,
  configFingerprint,
  connectionOf,
  identityOf,
  normalisePem,
  sameCert,
  validateCredentials,
  type EeConfig,
  type PemSource,
} from './config.js';
import { ManagerApi, ManagerCallError, type ManagerConnection } from '../control/client.js';
import { ConfigError, MacsecError } from '../common/errors.js';
import { channelName, endpointsOf, hexOctets, portSpecsOf } from './channel-params.js';
import { NAME_RE, NAME_RULE } from '../common/names.js';
import { portStateToJSON } from '../control/gen/macsec/v1/types.js';
import { OwnedChannels } from './owned.js';
import { clip, ParamError, Params } from './params.js';
import { describeChannel, ScopeError, scrub, stateName, UNAUTH } from './replies.js';
import { keyChainHandlers } from './key-primitives.js';

export type Status = 'OK' | 'PROCESSING' | 'ERROR';
export interface Reply {
  status: Status;
  message: string;
}

export interface PrimitiveContext {
  requestId: string;
  /** How LCM reached us: "mtls" or "plaintext". */
  transport: string;
  /**
   * The caller presented a client certificate verified against OSM's CA (mutual TLS). False for
   * plaintext callers, who get the restricted scope described at the top of this file.
   */
  authenticated: boolean;
  /** Sends a PROCESSING reply. */
  progress(message: string): void;
}

/**
 * Deployment configuration (chart values / mounted files): defaults for `config`. The manager
 * address, server name and CA given here are fixed: `config` may confirm them, never change them.
 */
export interface ConfigDefaults {
  managerAddress?: string;
  serverName?: string;
  caPath?: string;
  certPath?: string;
  keyPath?: string;
  vnfId?: string;
  agentId?: string;
}

export interface RunnerOptions {
  store: ConfigStore;
  managerClientFactory: ManagerClientFactory;
  defaults?: ConfigDefaults;
  stateDir?: string;
  log: Logger;
  version: string;
  /** Interval of "still waiting" PROCESSING replies during long manager calls. */
  progressIntervalMs?: number;
  /** Upper bound on one primitive, whatever its parameters say. */
  maxPrimitiveMs?: number;
}

/** The manager calls this EE makes: the operator API client (ManagerApi) or a test double. */
export type ManagerClient = Pick<
  ManagerApi,
  | 'createSecureChannel'
  | 'updateSecureChannel'
  | 'getSecureChannel'
  | 'listSecureChannels'
  | 'deleteSecureChannel'
  | 'forceRekey'
  | 'openPort'
  | 'closePort'
  | 'close'
  | 'addChannelKey'
  | 'retireChannelKey'
>;
export type ManagerClientFactory = (conn: ManagerConnection) => ManagerClient;

/**
 * This EE's client of the manager: mutual TLS with the configured operator certificate (the server
 * must present a manager certificate), keepalive pings every 30 s, answers up to 16 MiB; the host
 * in the address (or the configured server name) is verified as is, also for a loopback IP.
 */
export const grpcManagerClient: ManagerClientFactory = (conn) =>
  ManagerApi.connect(conn, { keepaliveMs: 30_000, maxReceiveMessageBytes: 16 << 20, loopbackAsLocalhost: false });

type Handler = (p: Params, ctx: PrimitiveContext) => Promise<Reply>;

const ADDRESS_RE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):\d{1,5}$/;

/** Longest message passed on from the manager (its messages name a field and are short). */
const MANAGER_DETAIL_MAX = 300;

const ok = (message: string): Reply => ({ status: 'OK', message });
const error = (message: string): Reply => ({ status: 'ERROR', message });

function ignoredSuffix(p: Params, quiet: string[] = []): string {
  const extra = p.unused().filter((k) => !quiet.includes(k));
  if (!extra.length) return '';
  const shown = extra.slice(0, 10).map((k) => clip(k, 40));
  return ` (ignored parameters: ${shown.join(', ')}${extra.length > shown.length ? `, and ${extra.length - shown.length} more` : ''})`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class PrimitiveRunner {
  private readonly handlers = new Map<string, Handler>();
  private readonly inflight = new Map<string, { fp: string; promise: Promise<Reply> }>();
  private client: { key: string; client: ManagerClient; address: string; identity: string } | undefined;
  private readonly progressIntervalMs: number;
  private readonly maxPrimitiveMs: number;
  private readonly owned: OwnedChannels;

  constructor(private readonly o: RunnerOptions) {
    this.progressIntervalMs = o.progressIntervalMs ?? 10_000;
    this.maxPrimitiveMs = o.maxPrimitiveMs ?? 15 * 60_000;
    this.owned = new OwnedChannels(o.stateDir);
    // A stored configuration that contradicts the deployment (e.g. the chart now names another
    // manager) is dropped: the deployment is the trust anchor, the store only remembers `config`.
    const stored = o.store.get();
    const conflict = stored && this.pinConflict(stored);
    if (conflict) {
      o.log.warn('stored configuration contradicts the deployment configuration; dropped', { conflict });
      o.store.clear();
    }
    this.handlers.set('config', (p, c) => this.config(p, c));
    this.handlers.set('health-check', (p, c) => this.healthCheck(p, c));
    this.handlers.set('create-secure-channel', (p, c) => this.createChannel(p, c));
    this.handlers.set('update-secure-channel', (p, c) => this.updateChannel(p, c));
    this.handlers.set('channel-status', (p, c) => this.channelStatus(p, c));
    this.handlers.set('delete-secure-channel', (p, c) => this.deleteChannel(p, c));
    this.handlers.set('force-rekey', (p, c) => this.forceRekey(p, c));
    // CAK key chains (key-primitives.ts), with this runner's helpers.
    const keys = keyChainHandlers({
      stateDir: o.stateDir,
      requireConfig: () => this.requireConfig(),
      requireOwned: (name, ctx, action) => this.requireOwned(name, ctx, action),
      clientFor: (cfg) => this.clientFor(cfg),
      withRetry: (fn, budgetMs, progress) => this.withRetry(fn, budgetMs, progress),
      about: (what, fn) => this.about(what, fn),
      heartbeat: (work, ctx, what) => this.heartbeat(work, ctx, what),
      ignored: (p) => ignoredSuffix(p),
    });
    for (const [name, h] of Object.entries(keys)) this.handlers.set(name, h);
  }

  names(): string[] {
    return [...this.handlers.keys()];
  }

  /** Runs one primitive to its final reply. Never throws, never resolves to PROCESSING. */
  async run(name: string, paramsText: string, ctx: PrimitiveContext): Promise<Reply> {
    const h = this.handlers.get(name);
    if (!h) return error(`unknown primitive '${clip(name)}'; this execution environment runs: ${this.names().join(', ')}`);
    let params: Params;
    try {
      params = Params.parse(paramsText);
    } catch (e) {
      return error(`${name}: ${(e as Error).message}`);
    }
    // Key material of this request: never in a reply, even inside a manager's message.
    const secrets = ['psk_cak_hex', 'psk_ckn_hex', 'client_key', 'client_key_pem']
      .map((k) => (params.has(k) ? params.rawPeek(k) : undefined))
      .filter((v): v is string => typeof v === 'string');
    const clean = (r: Reply): Reply => (secrets.length ? { status: r.status, message: scrub(r.message, secrets) } : r);
    const inner: PrimitiveContext = secrets.length ? { ...ctx, progress: (m) => ctx.progress(scrub(m, secrets)) } : ctx;
    return clean(await this.runHandler(name, h, params, inner));
  }

  private async runHandler(name: string, h: Handler, params: Params, ctx: PrimitiveContext): Promise<Reply> {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<Reply>((resolve) => {
      timer = setTimeout(() => resolve(error(`${name}: did not finish within ${Math.round(this.maxPrimitiveMs / 1000)} s`)), this.maxPrimitiveMs);
      timer.unref();
    });
    try {
      const r = await Promise.race([h(params, ctx), limit]);
      return r.status === 'PROCESSING' ? ok(r.message) : r;
    } catch (e) {
      if (e instanceof ManagerCallError) return error(`${name}: ${this.describeManagerError(e)}`);
      // parameters, configuration, scope: the message names what is wrong
      if (e instanceof MacsecError) return error(`${name}: ${e.message}`);
      this.o.log.error('primitive failed', { primitive: name, id: clip(ctx.requestId), error: e as Error });
      return error(`${name}: internal error: ${clip((e as Error).message, 200)}`);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): void {
    this.client?.client.close();
    this.client = undefined;
  }

  // ---------------------------------------------------------------- config

  private pemParam(p: Params, name: string, pathDefault: string | undefined): PemSource | undefined {
    const pem = p.str([name, `${name}_pem`], { multiline: true });
    const path = p.str(`${name}_path`);
    if (pem !== undefined && path !== undefined) throw new ParamError(`give either '${name}' or '${name}_path', not both`);
    if (pem !== undefined) {
      if (!pem.includes('-----BEGIN')) throw new ParamError(`parameter '${name}' must be PEM text (use '${name}_path' for a file)`);
      return { pem: normalisePem(pem) };
    }
    if (path !== undefined) return { path };
    return pathDefault ? { path: pathDefault } : undefined;
  }

  /** Where a stored or requested configuration contradicts the deployment's fixed values, if anywhere. */
  private pinConflict(cfg: EeConfig): string | undefined {
    const d = this.o.defaults ?? {};
    if (d.managerAddress && cfg.managerAddress !== d.managerAddress) return `manager_address (deployment: ${d.managerAddress})`;
    if (d.serverName && (cfg.serverName ?? '') !== d.serverName) return `manager_server_name (deployment: ${d.serverName})`;
    if (d.caPath && !sameCert(cfg.ca, { path: d.caPath })) return `ca_cert (deployment: ${clip(d.caPath)})`;
    if (d.certPath && !sameCert(cfg.cert, { path: d.certPath })) return `client_cert (deployment: ${clip(d.certPath)})`;
    if (d.keyPath && 'path' in cfg.key && cfg.key.path !== d.keyPath) return `client_key (deployment: ${clip(d.keyPath)})`;
    return undefined;
  }

  /**
   * The manager connection (address, server name, CA, client certificate) is set once: by the
   * deployment, or by the first successful `config` of an authenticated LCM. A later `config` may
   * repeat it (idempotent), rotate the client certificate to one with the same identity, or change
   * the endpoint defaults (vnf_id, agent_id) - never point the EE at another manager or CA.
   */
  private async config(p: Params, ctx: PrimitiveContext): Promise<Reply> {
    const d = this.o.defaults ?? {};
    const givenAddress = p.str(['manager_address', 'manager'], { pattern: ADDRESS_RE, patternText: 'host:port' });
    const address = givenAddress ?? d.managerAddress;
    if (!address) throw new ParamError(`parameter 'manager_address' (host:port of the MACsec manager) is required`);
    if (!ctx.authenticated) {
      const inline = ['ca_cert', 'ca_cert_pem', 'client_cert', 'client_cert_pem', 'client_key', 'client_key_pem'].filter((k) => p.has(k));
      if (inline.length) {
        throw new ScopeError(
          `parameter${inline.length > 1 ? 's' : ''} ${inline.join(', ')}: ${UNAUTH} may not hand over credentials; run config over mutual TLS, or mount them (chart manager.credentialsSecret)`,
        );
      }
    }
    const ca = this.pemParam(p, 'ca_cert', d.caPath);
    const cert = this.pemParam(p, 'client_cert', d.certPath);
    const key = this.pemParam(p, 'client_key', d.keyPath);
    const missing = [!ca && 'ca_cert', !cert && 'client_cert', !key && 'client_key'].filter(Boolean);
    if (missing.length) throw new ParamError(`missing manager credentials: ${missing.join(', ')} (PEM text, or <name>_path to a file)`);
    const cfg: EeConfig = { managerAddress: address, ca: ca!, cert: cert!, key: key!, configuredAtMs: Date.now() };
    const serverName = p.str(['manager_server_name', 'server_name'], { pattern: /^[A-Za-z0-9._-]{1,253}$/, patternText: 'a DNS name' }) ?? d.serverName;
    if (serverName) cfg.serverName = serverName;
    const prev = this.o.store.get();
    const vnfId = p.str('vnf_id', { pattern: NAME_RE, patternText: NAME_RULE }) ?? prev?.vnfId ?? d.vnfId;
    if (vnfId) cfg.vnfId = vnfId;
    const agentId = p.str('agent_id', { pattern: NAME_RE, patternText: NAME_RULE }) ?? prev?.agentId ?? d.agentId;
    if (agentId) cfg.agentId = agentId;
    const check = p.bool('check_manager', true);
    const retryMs = (p.int('manager_retry_seconds', { min: 0, max: 600, default: 30 }) ?? 30) * 1000;

    // 1. The deployment's fixed values.
    const pinned = this.pinConflict(cfg);
    if (pinned)
      throw new ScopeError(
        `${pinned.split(' ')[0]} is fixed by this EE's deployment configuration ${pinned.slice(pinned.indexOf('('))}; config may not change it`,
      );
    // 2. What an earlier config set (checked before reading any file a caller named, if unauthenticated).
    const checkPrev = () => {
      if (prev) {
        const was = `this EE is already configured for manager ${prev.managerAddress}${prev.serverName ? ` (server name ${prev.serverName})` : ''}`;
        const how = 'config may not re-point it (redeploy the EE to use another manager)';
        if (prev.managerAddress !== cfg.managerAddress) throw new ScopeError(`manager_address: ${was}; ${how}`);
        if ((prev.serverName ?? '') !== (cfg.serverName ?? '')) throw new ScopeError(`manager_server_name: ${was}; ${how}`);
        if (!sameCert(prev.ca, cfg.ca)) throw new ScopeError(`ca_cert: ${was} with another CA; ${how}`);
        if (!sameCert(prev.cert, cfg.cert)) {
          const before = identityOf(prev.cert);
          const now = identityOf(cfg.cert);
          if (!before || before !== now) {
            throw new ScopeError(
              `client_cert: ${was} as ${before ?? 'another identity'}; config may only replace the certificate by one with the same identity`,
            );
          }
        }
      }
    };
    if (!ctx.authenticated) checkPrev();
    // 3. Unauthenticated callers only confirm: everything must already be what it would become.
    if (!ctx.authenticated) {
      const base = prev ?? (d.managerAddress && d.caPath && d.certPath && d.keyPath ? undefined : null);
      if (base === null) {
        throw new ScopeError(
          `${UNAUTH} may not set the manager or its credentials; run config over mutual TLS, or give them in the deployment (chart manager.address, manager.credentialsSecret)`,
        );
      }
      const changed: string[] = [];
      if (base && !sameCert(base.cert, cfg.cert)) changed.push('client_cert');
      if (base && JSON.stringify(base.key) !== JSON.stringify(cfg.key)) changed.push('client_key');
      if ((cfg.vnfId ?? '') !== ((base ? base.vnfId : d.vnfId) ?? '')) changed.push('vnf_id');
      if ((cfg.agentId ?? '') !== ((base ? base.agentId : d.agentId) ?? '')) changed.push('agent_id');
      if (changed.length) throw new ScopeError(`${changed.join(', ')}: ${UNAUTH} may not change the configuration; run config over mutual TLS`);
    }
    const creds = validateCredentials(cfg);
    if (ctx.authenticated) checkPrev();
    const same = prev !== undefined && configFingerprint(prev) === configFingerprint(cfg);
    let reach = '';
    if (check) {
      const client = this.clientFor(cfg);
      const r = await this.withRetry(
        () => client.listSecureChannels(10_000),
        retryMs,
        () => {},
      );
      reach = `; manager reachable (${r.channels.length} secure channel${r.channels.length === 1 ? '' : 's'})`;
    }
    if (!same) this.o.store.set(cfg);
    this.o.log.info('configured', { manager: address, identity: creds.identity, changed: !same, transport: ctx.transport });
    return ok(
      `${same ? 'already configured' : 'configured'}: manager ${address} as ${creds.identity} (certificate valid until ${creds.notAfter})${reach}` +
        ignoredSuffix(p, ['ssh_hostname', 'ssh_username', 'ssh_password']),
    );
  }

  /** The manager's ownership refusal (or another error) of a call about `what`, as a clear message. */
  private describeManagerError(e: ManagerCallError, what?: string): string {
    const details = clip(e.details, MANAGER_DETAIL_MAX);
    if (e.code === 'permission_denied') {
      const who = this.client?.identity ?? 'this EE';
      return (
        `the manager refused ${e.method}${what ? ` of ${what}` : ''} (PERMISSION_DENIED: ${details}); ` +
        `this execution environment acts as ${who} and may change only the channels and ports it created`
      );
    }
    return `manager ${e.method} failed: ${status[e.status] ?? e.status}: ${details}`;
  }

  /** Runs a manager call about `what`; a refusal becomes a ScopeError naming it. */
  private async about<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof ManagerCallError && e.code === 'permission_denied') throw new ScopeError(this.describeManagerError(e, what));
      throw e;
    }
  }

  /** Unauthenticated callers: only channels this EE created. */
  private requireOwned(name: string, ctx: PrimitiveContext, action: string): void {
    if (ctx.authenticated || this.owned.isOwned(name)) return;
    throw new ScopeError(`secure channel '${name}' was not created by this execution environment; ${UNAUTH} may ${action} only channels it created`);
  }

  private requireConfig(): EeConfig {
    const cfg = this.o.store.get();
    if (!cfg) throw new ConfigError('not configured: run the config primitive first (manager_address and credentials)');
    return cfg;
  }

  private clientFor(cfg: EeConfig): ManagerClient {
    const conn = connectionOf(cfg);
    const key = createHash('sha256')
      .update([conn.address, conn.serverName ?? '', conn.ca.toString('base64'), conn.cert.toString('base64'), conn.key.toString('base64')].join('|'))
      .digest('hex');
    if (this.client?.key === key) return this.client.client;
    this.client?.client.close();
    const client = this.o.managerClientFactory(conn);
    this.client = { key, client, address: conn.address, identity: conn.identity };
    return client;
  }

  /** Retries transient manager failures (UNAVAILABLE, DEADLINE_EXCEEDED) within a budget. */
  private async withRetry<T>(fn: () => Promise<T>, budgetMs: number, progress: (m: string) => void): Promise<T> {
    const until = Date.now() + budgetMs;
    let delay = 250;
    for (;;) {
      try {
        return await fn();
      } catch (e) {
        if (!(e instanceof ManagerCallError) || !e.transient || Date.now() + delay > until) throw e;
        progress(`manager not reachable yet (${e.details}); retrying`);
        await sleep(delay);
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  /** Awaits `work`, sending a PROCESSING reply every progressIntervalMs. */
  private async heartbeat<T>(work: Promise<T>, ctx: PrimitiveContext, what: string): Promise<T> {
    const started = Date.now();
    const t = setInterval(() => ctx.progress(`${what}: still waiting (${Math.round((Date.now() - started) / 1000)} s)`), this.progressIntervalMs);
    try {
      return await work;
    } finally {
      clearInterval(t);
    }
  }

  // ---------------------------------------------------------------- health-check

  private async healthCheck(p: Params, ctx: PrimitiveContext): Promise<Reply> {
    const cfg = this.o.store.get();
    const checkManager = p.bool('check_manager', false);
    let mgr = cfg ? `manager ${cfg.managerAddress} configured` : 'manager not configured yet';
    if (cfg && checkManager) {
      const r = await this.clientFor(cfg).listSecureChannels(10_000);
      mgr += ` and reachable (${r.channels.length} secure channels)`;
    }
    return ok(`macsec-osm-ee ${this.o.version} healthy; transport ${ctx.transport}; ${mgr}`);
  }

  // ---------------------------------------------------------------- create-secure-channel

  private async createChannel(p: Params, ctx: PrimitiveContext): Promise<Reply> {
    const name = channelName(p);
    const cfg = this.requireConfig();
    if (!ctx.authenticated) {
      const keys = ['psk_cak_hex', 'psk_ckn_hex'].filter((k) => p.has(k));
      if (keys.length) throw new ScopeError(`${keys.join(', ')}: ${UNAUTH} may not hand over key material; use mutual TLS, or leave the key to the manager`);
    }
    const endpoints = endpointsOf(p, cfg);
    let ports = portSpecsOf(p, endpoints, ctx.authenticated);
    const waitSecured = p.bool('wait_secured', false);
    const waitTimeoutS = p.int('wait_timeout_seconds', { min: 1, max: 3600, default: 60 })!;
    const timeoutS = p.int('timeout_seconds', { min: 1, max: 3600, default: 120 })!;
    const retryMs = p.int('manager_retry_seconds', { min: 0, max: 600, default: 30 })! * 1000;
    const cak = hexOctets(p, 'psk_cak_hex', [16, 32], '16 or 32 octets in hex (separators space, : or - allowed)');
    const ckn = hexOctets(p, 'psk_ckn_hex', [1, 32], '1 to 32 octets in hex (separators space, : or - allowed)');
    if ((cak === undefined) !== (ckn === undefined)) throw new ParamError(`give both 'psk_cak_hex' and 'psk_ckn_hex', or neither`);
    const req: CreateSecureChannelRequest = {
      name,
      endpoints,
      psk: cak && ckn ? { cakHex: cak, cknHex: ckn } : undefined,
      waitSecured,
      waitTimeoutMs: waitSecured ? waitTimeoutS * 1000 : 0,
      // Deterministic per channel definition (never from key material): when the manager dies
      // after storing the channel, LCM's retry gets the same answer, the generated PSK included.
      requestId: `osm-${createHash('sha256')
        .update(JSON.stringify([name, endpoints, ports]))
        .digest('hex')
        .slice(0, 40)}`,
    };
    const deadlineMs = (waitSecured ? waitTimeoutS + timeoutS : timeoutS) * 1000;
    const fp = createHash('sha256')
      .update(JSON.stringify([req, ports]))
      .digest('hex');
    const ignored = ignoredSuffix(p);

    const running = this.inflight.get(name);
    if (running && running.fp === fp) {
      ctx.progress(`an identical create-secure-channel '${name}' is already running; waiting for it`);
      return this.heartbeat(running.promise, ctx, `create-secure-channel '${name}'`);
    }
    ctx.progress(
      `creating secure channel '${name}' with ${endpoints.length} endpoint${endpoints.length === 1 ? '' : 's'} through manager ${cfg.managerAddress}${waitSecured ? ', waiting until secured' : ''}`,
    );
    const client = this.clientFor(cfg);
    const work = (async (): Promise<Reply> => {
      if (!ctx.authenticated && ports.length && !this.owned.get(name)) {
        // An existing channel this EE did not create: its ports are someone else's; only the
        // idempotent create (which changes nothing when it matches) is passed on.
        const exists = await this.withRetry(
          () => client.getSecureChannel(name, 10_000),
          retryMs,
          (m) => ctx.progress(m),
        ).then(
          () => true,
          (e: unknown) => {
            if (e instanceof ManagerCallError && e.code === 'not_found') return false;
            throw e;
          },
        );
        if (exists) ports = [];
      }
      for (const op of ports) {
        const id = `${op.agentId}/${op.interface}`;
        const port = await this.about(`port ${id}`, () =>
          this.withRetry(
            () => client.openPort(op, deadlineMs),
            retryMs,
            (m) => ctx.progress(m),
          ),
        );
        this.owned.addPort(name, id);
        ctx.progress(`authenticator port ${port.id} open (${portStateToJSON(port.status?.state ?? 0).replace(/^PORT_STATE_/, '')})`);
      }
      const res = await this.about(`secure channel '${name}'`, () =>
        this.withRetry(
          () => client.createSecureChannel(req, deadlineMs),
          retryMs,
          (m) => ctx.progress(m),
        ),
      );
      const ch = res.channel;
      if (!ch) return error(`manager acknowledged '${name}' without returning the channel`);
      if (res.created) this.owned.markCreated(name);
      let pskNote = '';
      if (res.generatedPsk?.cakHex) pskNote = '; ' + this.storePsk(name, res.generatedPsk.cakHex, res.generatedPsk.cknHex);
      const good = waitSecured ? [ChannelState.CHANNEL_STATE_SECURED] : [ChannelState.CHANNEL_STATE_READY, ChannelState.CHANNEL_STATE_SECURED];
      if (!good.includes(ch.state)) {
        return error(
          `manager answered for '${name}' but the channel is ${stateName(ch.state)}, expected ${good.map(stateName).join(' or ')}: ${describeChannel(ch)}`,
        );
      }
      return ok(`${res.created ? 'created' : 'already present'}: ${describeChannel(ch)}${pskNote}${ignored}`);
    })();
    this.inflight.set(name, { fp, promise: work });
    try {
      return await this.heartbeat(work, ctx, `create-secure-channel '${name}'`);
    } finally {
      if (this.inflight.get(name)?.promise === work) this.inflight.delete(name);
    }
  }

  /** The manager returns a generated PSK once; keep it for the VNF side, never in a reply or log. */
  private storePsk(name: string, cakHex: string, cknHex: string): string {
    if (!this.o.stateDir) return 'the manager generated a PSK; no state directory is set, so it was not kept';
    const dir = join(this.o.stateDir, 'psk');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const f = join(dir, `${name}.json`);
    writeFileSync(f, JSON.stringify({ channel: name, cak_hex: cakHex, ckn_hex: cknHex }) + '\n', { mode: 0o600 });
    chmodSync(f, 0o600); // the create mode does not apply to a file that already existed
    return `the manager generated a PSK, kept in ${f} (not shown)`;
  }

  // ---------------------------------------------------------------- update-secure-channel

  /**
   * Adds and removes endpoints of an existing channel. Idempotent: the channel is read first and
   * only what is still to do is sent (an endpoint already in it is not added again, one already
   * gone is not removed again), so LCM's retry of a request that went through answers OK.
   */
  private async updateChannel(p: Params, ctx: PrimitiveContext): Promise<Reply> {
    const name = channelName(p);
    const cfg = this.requireConfig();
    const add = endpointsOf(p, cfg, { prefix: 'add_', optional: true });
    const remove = [...new Set(endpointsOf(p, cfg, { prefix: 'remove_', optional: true }).map((e) => `${e.agentId}/${e.switchPort}`))];
    if (!add.length && !remove.length) {
      throw new ParamError(`nothing to change: give 'add_endpoints' (or 'add_switch_ports') and/or 'remove_endpoints' (or 'remove_switch_ports')`);
    }
    const ports = portSpecsOf(p, add, ctx.authenticated);
    const closePorts = p.bool('close_ports', false);
    const waitSecured = p.bool('wait_secured', false);
    const waitTimeoutS = p.int('wait_timeout_seconds', { min: 1, max: 3600, default: 60 })!;
    const timeoutS = p.int('timeout_seconds', { min: 1, max: 3600, default: 120 })!;
    const retryMs = p.int('manager_retry_seconds', { min: 0, max: 600, default: 30 })! * 1000;
    this.requireOwned(name, ctx, 'update');
    if (!ctx.authenticated) {
      // Only ports this EE opened (before, or now with port_mode) may join or be closed.
      const opened = this.owned.openedPorts();
      const opening = new Set(ports.map((o) => `${o.agentId}/${o.interface}`));
      const foreignAdd = add.map((e) => `${e.agentId}/${e.switchPort}`).filter((id) => !opened.has(id) && !opening.has(id));
      if (foreignAdd.length)
        throw new ScopeError(
          `port ${foreignAdd.join(', ')} was not opened by this execution environment; ${UNAUTH} may add only ports it opens (give port_mode)`,
        );
      const foreignClose = closePorts ? remove.filter((id) => !opened.has(id)) : [];
      if (foreignClose.length)
        throw new ScopeError(`port ${foreignClose.join(', ')} was not opened by this execution environment; ${UNAUTH} may close only ports it opened`);
    }
    const deadlineMs = (waitSecured ? waitTimeoutS + timeoutS : timeoutS) * 1000;
    const fp = createHash('sha256')
      .update(JSON.stringify([name, add, remove, ports, closePorts, waitSecured, waitTimeoutS]))
      .digest('hex');
    const key = `update:${name}`;
    const running = this.inflight.get(key);
    if (running && running.fp === fp) {
      ctx.progress(`an identical update-secure-channel '${name}' is already running; waiting for it`);
      return this.heartbeat(running.promise, ctx, `update-secure-channel '${name}'`);
    }
    const ignored = ignoredSuffix(p);
    const client = this.clientFor(cfg);
    const retrying = <T>(fn: () => Promise<T>) => this.withRetry(fn, retryMs, (m) => ctx.progress(m));
    const work = (async (): Promise<Reply> => {
      let ch: SecureChannel;
      try {
        ch = await retrying(() => client.getSecureChannel(name, 10_000));
      } catch (e) {
        if (e instanceof ManagerCallError && e.code === 'not_found')
          return error(`update-secure-channel: no secure channel '${name}' on the manager (${clip(e.details, MANAGER_DETAIL_MAX)})`);
        throw e;
      }
      const members = new Map(ch.endpoints.map((e) => [`${e.agentId}/${e.switchPort}`, e]));
      const same = (a: Endpoint, b: Endpoint | undefined) => !!b && a.vnfId === b.vnfId && a.vnfInterface === b.vnfInterface;
      const toAdd = add.filter((e) => !same(e, members.get(`${e.agentId}/${e.switchPort}`)));
      const toRemove = remove.filter((id) => members.has(id));
      const notes: string[] = [];
      const already = add.filter((e) => !toAdd.includes(e)).map((e) => `${e.agentId}/${e.switchPort}`);
      if (already.length) notes.push(`already endpoints: ${already.join(', ')}`);
      const gone = remove.filter((id) => !toRemove.includes(id));
      if (gone.length) notes.push(`not endpoints (nothing to remove): ${gone.join(', ')}`);
      const adding = new Set(toAdd.map((e) => `${e.agentId}/${e.switchPort}`));
      for (const op of ports.filter((o) => adding.has(`${o.agentId}/${o.interface}`))) {
        const id = `${op.agentId}/${op.interface}`;
        const port = await this.about(`port ${id}`, () => retrying(() => client.openPort(op, deadlineMs)));
        this.owned.addPort(name, id);
        ctx.progress(`authenticator port ${port.id} open (${portStateToJSON(port.status?.state ?? 0).replace(/^PORT_STATE_/, '')})`);
      }
      let done = 'already up to date';
      if (toAdd.length || toRemove.length) {
        ctx.progress(
          `updating secure channel '${name}' through manager ${cfg.managerAddress}: ${[toAdd.length && `adding ${[...adding].join(', ')}`, toRemove.length && `removing ${toRemove.join(', ')}`].filter(Boolean).join('; ')}`,
        );
        const res = await this.about(`secure channel '${name}'`, () =>
          retrying(() =>
            client.updateSecureChannel(
              { channelId: name, addEndpoints: toAdd, removePortIds: toRemove, waitSecured, waitTimeoutMs: waitSecured ? waitTimeoutS * 1000 : 0 },
              deadlineMs,
            ),
          ),
        );
        if (!res.channel) return error(`manager acknowledged the update of '${name}' without returning the channel`);
        ch = res.channel;
        done = `updated (${[res.addedPortIds.length && `added ${res.addedPortIds.join(', ')}`, res.removedPortIds.length && `removed ${res.removedPortIds.join(', ')}`].filter(Boolean).join('; ')})`;
      }
      // The removed ports are closed after they left the channel (also on a retry that found them gone).
      const closed: string[] = [];
      if (closePorts) {
        for (const id of remove) {
          const r = await this.about(`port ${id}`, () => retrying(() => client.closePort({ portId: id, allowMissing: true }, timeoutS * 1000)));
          if (r.existed) closed.push(id);
        }
        this.owned.forgetPorts(name, remove);
        notes.push(closed.length ? `closed ports ${closed.join(', ')}` : 'no ports to close');
      }
      const good = waitSecured ? [ChannelState.CHANNEL_STATE_SECURED] : [ChannelState.CHANNEL_STATE_READY, ChannelState.CHANNEL_STATE_SECURED];
      if (!good.includes(ch.state)) {
        return error(
          `update-secure-channel: '${name}' is ${stateName(ch.state)} after the update, expected ${good.map(stateName).join(' or ')}: ${describeChannel(ch)}`,
        );
      }
      return ok(`${done}: ${describeChannel(ch)}${notes.map((n) => `; ${n}`).join('')}${ignored}`);
    })();
    this.inflight.set(key, { fp, promise: work });
    try {
      return await this.heartbeat(work, ctx, `update-secure-channel '${name}'`);
    } finally {
      if (this.inflight.get(key)?.promise === work) this.inflight.delete(key);
    }
  }

  // ---------------------------------------------------------------- channel-status

  private async channelStatus(p: Params, ctx: PrimitiveContext): Promise<Reply> {
    const name = channelName(p);
    const expectText = p.str(['expect_state', 'expected_state'], {
      pattern: /^(PENDING|READY|SECURED|DEGRADED|FAILED)$/i,
      patternText: 'one of PENDING, READY, SECURED, DEGRADED, FAILED',
    });
    const waitS = p.int('wait_seconds', { min: 0, max: 3600, default: 0 })!;
    const cfg = this.requireConfig();
    this.requireOwned(name, ctx, 'read');
    const client = this.clientFor(cfg);
    const until = Date.now() + waitS * 1000;
    const expect = expectText ? (ChannelState[`CHANNEL_STATE_${expectText.toUpperCase()}` as keyof typeof ChannelState] as ChannelState) : undefined;
    let announced = false;
    for (;;) {
      let ch: SecureChannel;
      try {
        ch = await this.withRetry(
          () => client.getSecureChannel(name, 10_000),
          10_000,
          (m) => ctx.progress(m),
        );
      } catch (e) {
        if (e instanceof ManagerCallError && e.code === 'not_found')
          return error(`channel-status: no secure channel '${name}' on the manager (${clip(e.details, MANAGER_DETAIL_MAX)})`);
        throw e;
      }
      if (expect === undefined || ch.state === expect) return ok(describeChannel(ch) + ignoredSuffix(p));
      if (Date.now() >= until) {
        return error(`channel-status: ${describeChannel(ch)}; expected ${stateName(expect)}${waitS ? ` within ${waitS} s` : ''}`);
      }
      if (!announced) {
        ctx.progress(`waiting up to ${waitS} s for '${name}' to become ${stateName(expect)} (now ${stateName(ch.state)})`);
        announced = true;
      }
      await sleep(Math.min(1000, Math.max(0, until - Date.now())));
    }
  }

  // ---------------------------------------------------------------- delete-secure-channel

  private async deleteChannel(p: Params, ctx: PrimitiveContext): Promise<Reply> {
    const name = channelName(p);
    const cfg = this.requireConfig();
    const timeoutS = p.int('timeout_seconds', { min: 1, max: 3600, default: 60 })!;
    const closePorts = p.bool('close_ports', false);
    const client = this.clientFor(cfg);
    const record = this.owned.get(name);
    const explicitPorts = closePorts && (p.has('endpoints') || p.has('switch_ports')) ? endpointsOf(p, cfg).map((e) => `${e.agentId}/${e.switchPort}`) : [];
    const getChannel = () =>
      this.withRetry(
        () => client.getSecureChannel(name, 10_000),
        30_000,
        (m) => ctx.progress(m),
      ).catch((e: unknown) => {
        if (e instanceof ManagerCallError && e.code === 'not_found') return undefined;
        throw e;
      });
    let portIds: string[] = [];
    if (!ctx.authenticated) {
      // Only what this EE created: its channel, and the ports it opened for it.
      if (!this.owned.isOwned(name) && (await getChannel())) this.requireOwned(name, ctx, 'delete');
      const opened = this.owned.openedPorts();
      const foreign = explicitPorts.filter((id) => !opened.has(id));
      if (foreign.length)
        throw new ScopeError(`port ${foreign.join(', ')} was not opened by this execution environment; ${UNAUTH} may close only ports it opened`);
      if (closePorts) portIds = [...new Set([...(record?.ports ?? []), ...explicitPorts])];
    } else if (closePorts) {
      // The channel's ports are closed after it; a retry after the channel is gone cannot learn
      // them again, so they also come from this EE's record and the explicit switch port parameters.
      const ch = await getChannel();
      portIds = [...new Set([...(ch?.endpoints.map((e) => `${e.agentId}/${e.switchPort}`) ?? []), ...(record?.ports ?? []), ...explicitPorts])];
    }
    ctx.progress(`deleting secure channel '${name}' through manager ${cfg.managerAddress}`);
    const res = await this.about(`secure channel '${name}'`, () =>
      this.heartbeat(
        this.withRetry(
          () => client.deleteSecureChannel({ channelId: name, allowMissing: true }, timeoutS * 1000),
          30_000,
          (m) => ctx.progress(m),
        ),
        ctx,
        `delete-secure-channel '${name}'`,
      ),
    );
    this.owned.markDeleted(name);
    const closed: string[] = [];
    for (const id of portIds) {
      const r = await this.about(`port ${id}`, () =>
        this.withRetry(
          () => client.closePort({ portId: id, allowMissing: true }, timeoutS * 1000),
          30_000,
          (m) => ctx.progress(m),
        ),
      );
      if (r.existed) closed.push(id);
    }
    this.owned.forgetPorts(name, portIds);
    if (this.o.stateDir && NAME_RE.test(name)) rmSync(join(this.o.stateDir, 'psk', `${name}.json`), { force: true });
    const portNote = closePorts ? (closed.length ? `; closed ports ${closed.join(', ')}` : '; no ports to close') : '';
    return ok((res.existed ? `secure channel '${name}' deleted` : `secure channel '${name}' did not exist; nothing to delete`) + portNote + ignoredSuffix(p));
  }

  // ---------------------------------------------------------------- force-rekey

  private async forceRekey(p: Params, ctx: PrimitiveContext): Promise<Reply> {
    const name = channelName(p);
    const cfg = this.requireConfig();
    this.requireOwned(name, ctx, 'rekey');
    const client = this.clientFor(cfg);
    ctx.progress(`forcing a rekey of secure channel '${name}'`);
    const res = await this.about(`secure channel '${name}'`, () =>
      this.heartbeat(client.forceRekey({ channelId: name, portId: '' }, 60_000), ctx, `force-rekey '${name}'`),
    );
    const parts = res.results.map(
      (r) => `${r.portId} ${r.ok ? `key number ${r.keyNumber}${r.keyServer ? ' (key server)' : ''}` : `failed: ${clip(r.error, 120)}`}`,
    );
    const failed = res.results.filter((r) => !r.ok);
    if (failed.length) return error(`force-rekey '${name}': ${failed.length} of ${res.results.length} ports failed: ${parts.join(', ')}`);
    return ok(`rekeyed secure channel '${name}': ${parts.join(', ') || 'no ports'}${ignoredSuffix(p)}`);
  }
}
