/**
 * The OSM helm execution environment: a gRPC server for osm_ee.FrontendExecutor that runs the
 * MACsec primitives (see primitives.ts) and forwards them to the manager over mutual TLS.
 *
 * Transport: one port (the chart's Service port 50050). With a server certificate it is mutual TLS
 * only (LCM falls back to plaintext only when the EE has no TLS at all, so an EE with TLS never
 * needs plaintext). `allowPlaintext: true` adds unauthenticated plaintext on the same port, told
 * apart per connection (listener.ts), for pre-TLS LCMs; such callers are restricted (primitives.ts).
 */
import { Server, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import { createLogger, type Logger } from '../common/log.js';
import { HealthImpl } from '../control/health.js';
import { addEeReflection } from './reflection.js';
import { FrontendExecutorService, type PrimitiveReply, type PrimitiveRequest, type SshKeyReply, type SshKeyRequest } from './gen/osm_ee/frontend.js';
import { listenDual, type DualListener } from './listener.js';
import { clip } from './params.js';
import { ConfigStore } from './config.js';
import { grpcManagerClient, PrimitiveRunner, type ConfigDefaults, type ManagerClientFactory } from './primitives.js';

export const EE_VERSION = '0.1.0';

export interface EeTls {
  /** CA that signs LCM's client certificates (OSM's `osm-ca`). */
  ca: Buffer;
  /** This EE's server certificate and key (OSM's `ee-tls` secret). */
  cert: Buffer;
  key: Buffer;
}

export interface EeServerOptions {
  host?: string;
  port?: number;
  tls?: EeTls | null;
  /**
   * Also serve unauthenticated plaintext, for LCMs without TLS. Default false: with `tls` the port
   * is mutual TLS only, and without `tls` the server does not start unless this is set.
   * Plaintext callers get the restricted scope of primitives.ts (no configuration changes, no
   * caller-supplied keys, only channels this EE created).
   */
  allowPlaintext?: boolean;
  stateDir?: string;
  defaults?: ConfigDefaults;
  managerClientFactory?: ManagerClientFactory;
  /** Answer of GetSshKey ('' = none). */
  sshPublicKey?: string;
  logger?: Logger;
  progressIntervalMs?: number;
  maxPrimitiveMs?: number;
  /** Serve grpc.health.v1 and server reflection too (default true). */
  operations?: boolean;
  /** A connection must complete TLS and send its HTTP/2 preface within this (ms, default 10 s). */
  handshakeTimeoutMs?: number;
  /** Connections open at once (default 64). */
  maxConnections?: number;
  /** Unfinished connections per client address (default 8). */
  maxPendingPerAddress?: number;
}

export interface EeServer {
  port: number;
  transports: string[];
  runner: PrimitiveRunner;
  close(): Promise<void>;
}

function peerLabel(raw: Buffer | undefined): string {
  if (!raw) return '';
  try {
    const c = new X509Certificate(raw);
    return clip(/CN=([^\n,]+)/.exec(c.subject)?.[1] ?? c.subject);
  } catch {
    return '?';
  }
}

export async function startEeServer(opts: EeServerOptions = {}): Promise<EeServer> {
  const log = opts.logger ?? createLogger({ component: 'osm-ee' });
  const allowPlaintext = opts.allowPlaintext ?? false;
  if (!opts.tls && !allowPlaintext) throw new Error('no TLS material configured and plaintext not allowed (allowPlaintext / --allow-plaintext)');
  if (allowPlaintext) {
    log.warn(
      'PLAINTEXT ENABLED (--allow-plaintext): unauthenticated callers can reach this port. They may run health-check and GetSshKey, confirm the ' +
        'configured manager, create channels without caller-supplied keys, and read, rekey or delete only channels this EE created. ' +
        'Use only for LCMs without TLS.',
      { transports: opts.tls ? ['mtls', 'plaintext'] : ['plaintext'] },
    );
  }
  const runner = new PrimitiveRunner({
    store: new ConfigStore(opts.stateDir),
    managerClientFactory: opts.managerClientFactory ?? grpcManagerClient,
    log,
    version: EE_VERSION,
    ...(opts.defaults ? { defaults: opts.defaults } : {}),
    ...(opts.stateDir ? { stateDir: opts.stateDir } : {}),
    ...(opts.progressIntervalMs !== undefined ? { progressIntervalMs: opts.progressIntervalMs } : {}),
    ...(opts.maxPrimitiveMs !== undefined ? { maxPrimitiveMs: opts.maxPrimitiveMs } : {}),
  });
  const sshKey = opts.sshPublicKey ?? '';

  const server = new Server({ 'grpc.max_receive_message_length': 4 << 20 });
  server.addService(FrontendExecutorService, {
    runPrimitive: (call: ServerWritableStream<PrimitiveRequest, PrimitiveReply>) => {
      const { id, name, params } = call.request;
      const started = Date.now();
      const auth = call.getAuthContext();
      const transport = auth.transportSecurityType === 'ssl' ? 'mtls' : 'plaintext';
      // The listener admits TLS only with a client certificate verified against OSM's CA.
      const authenticated = auth.transportSecurityType === 'ssl' && !!auth.sslPeerCertificate?.raw;
      const peer = peerLabel(auth.sslPeerCertificate?.raw);
      let cancelled = false;
      call.on('cancelled', () => {
        cancelled = true;
        log.warn('primitive call cancelled by the client', { id: clip(id), primitive: clip(name) });
      });
      const send = (status: string, message: string) => {
        if (!cancelled) call.write({ status, detailedMessage: message });
      };
      log.info('primitive', { id: clip(id), primitive: clip(name), transport, peer: peer || call.getPeer() });
      void runner.run(name, params, { requestId: id, transport, authenticated, progress: (m) => send('PROCESSING', m) }).then((final) => {
        send(final.status, final.message);
        if (!cancelled) call.end();
        log.info('primitive done', {
          id: clip(id),
          primitive: clip(name),
          status: final.status,
          ms: Date.now() - started,
          ...(final.status === 'ERROR' ? { detail: final.message } : {}),
        });
      });
    },
    getSshKey: (_call: ServerUnaryCall<SshKeyRequest, SshKeyReply>, cb: sendUnaryData<SshKeyReply>) => {
      cb(null, { message: sshKey });
    },
  });
  let health: HealthImpl | undefined;
  if (opts.operations ?? true) {
    health = new HealthImpl(['osm_ee.FrontendExecutor']);
    health.addTo(server);
    addEeReflection(server);
  }

  const listener: DualListener = await listenDual(server, opts.host ?? '0.0.0.0', opts.port ?? 50050, {
    tls: opts.tls ? { ca: opts.tls.ca, cert: opts.tls.cert, key: opts.tls.key } : null,
    plaintext: allowPlaintext,
    ...(opts.handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs: opts.handshakeTimeoutMs } : {}),
    ...(opts.maxConnections !== undefined ? { maxConnections: opts.maxConnections } : {}),
    ...(opts.maxPendingPerAddress !== undefined ? { maxPendingPerAddress: opts.maxPendingPerAddress } : {}),
    onRefused: (why, remote) => log.info('connection refused or dropped', { remote, why }),
  });
  const transports = [...(opts.tls ? ['mtls'] : []), ...(allowPlaintext ? ['plaintext'] : [])];
  log.info('listening', { host: opts.host ?? '0.0.0.0', port: listener.port, transports });
  return {
    port: listener.port,
    transports,
    runner,
    close: async () => {
      health?.shutdown();
      await listener.close(500);
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        t.unref();
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      });
      runner.close();
    },
  };
}
