/**
 * The OSM helm execution environment: a gRPC server for osm_ee.FrontendExecutor that runs the
 * MACsec primitives (see primitives.ts) and forwards them to the manager over mutual TLS.
 *
 * Transport: one port (the chart's Service port 50050) serves mutual TLS when a server certificate
 * is configured AND plaintext, told apart per connection (listener.ts), because LCM tries TLS first
 * and falls back to plaintext on the same port. `allowPlaintext: false` refuses plaintext (TLS
 * enforced); without a certificate the server is plaintext only.
 */
import { Server, ServerCredentials, type sendUnaryData, type ServerUnaryCall, type ServerWritableStream } from '@grpc/grpc-js';
import { X509Certificate } from 'node:crypto';
import { createLogger, type Logger } from '../control/log.js';
import { HealthImpl } from '../control/health.js';
import { addEeReflection } from './reflection.js';
import { FrontendExecutorService, type PrimitiveReply, type PrimitiveRequest, type SshKeyReply, type SshKeyRequest } from './gen/osm_ee/frontend.js';
import { listenDual, type DualListener } from './listener.js';
import { grpcManagerClient, type ManagerClientFactory } from './manager-client.js';
import { ConfigStore } from './config.js';
import { PrimitiveRunner, type ConfigDefaults } from './primitives.js';

export const EE_VERSION = '0.1.0';

export interface EeTls {
  /** CA that signs LCM's client certificates (OSM's `osm-ca`). */
  ca: Buffer;
  /** This EE's server certificate and key (OSM's `ee-tls` secret). */
  cert: Buffer;
  key: Buffer;
  /** Require a client certificate (mutual TLS). Default true. */
  requireClientCert?: boolean;
}

export interface EeServerOptions {
  host?: string;
  port?: number;
  tls?: EeTls | null;
  /** Accept plaintext connections too (LCM's fallback). Default true. */
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
    return /CN=([^\n,]+)/.exec(c.subject)?.[1] ?? c.subject;
  } catch {
    return '?';
  }
}

export async function startEeServer(opts: EeServerOptions = {}): Promise<EeServer> {
  const log = opts.logger ?? createLogger({ component: 'osm-ee' });
  const allowPlaintext = opts.allowPlaintext ?? true;
  if (!opts.tls && !allowPlaintext) throw new Error('TLS is enforced but no server certificate is configured');
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
      const peer = peerLabel(auth.sslPeerCertificate?.raw);
      let cancelled = false;
      call.on('cancelled', () => {
        cancelled = true;
        log.warn('primitive call cancelled by the client', { id, primitive: name });
      });
      const send = (status: string, message: string) => {
        if (!cancelled) call.write({ status, detailedMessage: message });
      };
      log.info('primitive', { id, primitive: name, transport, peer: peer || call.getPeer() });
      void runner.run(name, params, { requestId: id, transport, progress: (m) => send('PROCESSING', m) }).then((final) => {
        send(final.status, final.message);
        if (!cancelled) call.end();
        log.info('primitive done', {
          id,
          primitive: name,
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

  const tlsCreds = opts.tls
    ? ServerCredentials.createSsl(opts.tls.ca, [{ private_key: opts.tls.key, cert_chain: opts.tls.cert }], opts.tls.requireClientCert ?? true)
    : null;
  const listener: DualListener = await listenDual(server, opts.host ?? '0.0.0.0', opts.port ?? 50050, {
    tls: tlsCreds,
    plaintext: allowPlaintext ? ServerCredentials.createInsecure() : null,
    onRefused: (why, remote) => log.info('connection of the wrong kind (the client will fail or fall back)', { remote, why }),
  });
  const transports = [...(tlsCreds ? [opts.tls!.requireClientCert === false ? 'tls' : 'mtls'] : []), ...(allowPlaintext ? ['plaintext'] : [])];
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
