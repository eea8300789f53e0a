#!/usr/bin/env node
/**
 * macsec-manager: the control-plane manager.
 *   macsec-manager --listen 0.0.0.0:50051 --db /var/lib/macsec/manager.db --ca pki/ca.crt --cert pki/manager.crt --key pki/manager.key \
 *                  [--init-db] [--metrics 127.0.0.1:9464] [--id manager] [--ack-timeout-ms 10000] [--config manager.yaml]
 * A YAML config file may hold the same keys (listen, db, ca, cert, key, metrics, id, init-db, and
 * the limits: handshake-timeout-ms, max-connections, max-handshakes, max-connections-per-identity,
 * keepalive-time-ms, keepalive-timeout-ms, watch-max-streams-per-identity, watch-max-streams,
 * watch-max-queued-bytes, watch-stall-timeout-ms).
 * The store: --db PATH (SQLite, the embedded default; --store sqlite:PATH is the same) or
 * --store etcd://host:port[,host:port...] (etcds:// for TLS, with --etcd-ca and, for client
 * certificates, --etcd-cert/--etcd-key) shared by manager replicas, with --store-key-file (the
 * key ring that seals CAKs in etcd) and --etcd-prefix (default /macsec/); see docs/etcd-store.md.
 * Replicas on one etcd store record which agents they serve under a lease (--replica-ttl-s,
 * default 5) and need distinct --id values (default: the host name); see replicas/etcd.ts.
 * No store has a default and a missing one is an error unless --init-db: a manager that silently
 * started on an empty store would stop every running port of its agents.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { createLogger, type Logger } from '../common/log.js';
import { loadTls, serverCredentials } from '../control/tls.js';
import { serveMetrics } from '../control/metrics.js';
import { Manager } from './manager.js';
import { startManagerServer, type ManagerServerOptions } from './server.js';
import { SqliteStore } from './store/sqlite.js';
import { EtcdStore, etcdEndpoints } from './store/etcd.js';
import { Keyring } from './store/keyring.js';
import type { Store } from './store/store.js';
import { EtcdReplicas } from './replicas/etcd.js';
import { renderManagerMetrics } from './metrics.js';

/** Resource-limit flags (and config keys) → server options; defaults in connections.ts / watch.ts. */
const LIMIT_FLAGS: Record<string, (o: ManagerServerOptions, v: number) => void> = {
  'handshake-timeout-ms': (o, v) => (o.handshakeTimeoutMs = v),
  'max-connections': (o, v) => (o.maxConnections = v),
  'max-handshakes': (o, v) => (o.maxHandshakes = v),
  'max-connections-per-identity': (o, v) => (o.maxConnectionsPerPrincipal = v),
  'keepalive-time-ms': (o, v) => (o.keepaliveTimeMs = v),
  'keepalive-timeout-ms': (o, v) => (o.keepaliveTimeoutMs = v),
  'watch-max-streams-per-identity': (o, v) => ((o.watch ??= {}).maxStreamsPerPrincipal = v),
  'watch-max-streams': (o, v) => ((o.watch ??= {}).maxStreams = v),
  'watch-max-queued-bytes': (o, v) => ((o.watch ??= {}).maxQueuedBytes = v),
  'watch-stall-timeout-ms': (o, v) => ((o.watch ??= {}).stallTimeoutMs = v),
};

/** A positive integer option; the error names the option, never echoes more than a prefix. */
function positiveInt(name: string, raw: unknown): number {
  const v = Number(raw);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`--${name}: must be a positive integer (got ${JSON.stringify(String(raw).slice(0, 32))})`);
  return v;
}

/** Opens the configured store: SQLite (--db / --store sqlite:PATH) or etcd (--store etcd://...). */
async function openStore(cfg: Record<string, string>, create: boolean, log: Logger): Promise<Store> {
  const spec = cfg.store ?? `sqlite:${cfg.db}`;
  if (spec.startsWith('sqlite:')) {
    const path = spec.slice('sqlite:'.length);
    if (!path) throw new Error('--store sqlite:PATH: the path is empty');
    const s = new SqliteStore(path, { create });
    log.info('store opened', { backend: 'sqlite', db: path, store_id: s.storeId });
    return s;
  }
  const endpoints = etcdEndpoints(spec);
  if (!cfg['store-key-file']) throw new Error('--store-key-file is required with an etcd store (it seals the CAKs etcd keeps)');
  const keyring = Keyring.load(cfg['store-key-file']);
  const file = (k: string) => {
    try {
      return cfg[k] ? readFileSync(cfg[k]) : undefined;
    } catch (e) {
      throw new Error(`--${k}: cannot read '${cfg[k]}': ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  };
  const ca = file('etcd-ca');
  if ((cfg['etcd-cert'] || cfg['etcd-key']) && !(cfg['etcd-cert'] && cfg['etcd-key'])) throw new Error('--etcd-cert and --etcd-key: give both');
  const s = await EtcdStore.open({
    endpoints,
    prefix: cfg['etcd-prefix'],
    keyring,
    create,
    log: log.child({ component: 'etcd-store' }),
    ...(ca ? { tls: { ca, cert: file('etcd-cert'), key: file('etcd-key') } } : {}),
  });
  log.info('store opened', {
    backend: 'etcd',
    endpoints: endpoints.join(','),
    prefix: cfg['etcd-prefix'] ?? '/macsec/',
    store_id: s.storeId,
    seal_key: keyring.activeId,
  });
  return s;
}

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      listen: { type: 'string' },
      db: { type: 'string' },
      store: { type: 'string' },
      'store-key-file': { type: 'string' },
      'etcd-prefix': { type: 'string' },
      'etcd-ca': { type: 'string' },
      'etcd-cert': { type: 'string' },
      'etcd-key': { type: 'string' },
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      metrics: { type: 'string' },
      id: { type: 'string' },
      'ack-timeout-ms': { type: 'string' },
      'replica-ttl-s': { type: 'string' },
      'init-db': { type: 'boolean' },
      ...Object.fromEntries(Object.keys(LIMIT_FLAGS).map((k) => [k, { type: 'string' as const }])),
    },
  });
  const file = values.config ? (parseYaml(readFileSync(values.config, 'utf8')) as Record<string, string>) : {};
  const cfg = {
    listen: '127.0.0.1:50051',
    ...file,
    ...Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)),
  } as Record<string, string>;
  // Replicas on etcd need distinct ids (the pod's host name by default); one manager is 'manager'.
  cfg.id ??= cfg.store && !cfg.store.startsWith('sqlite:') ? hostname() : 'manager';
  const ttlS = cfg['replica-ttl-s'] !== undefined ? positiveInt('replica-ttl-s', cfg['replica-ttl-s']) : undefined;
  if (cfg.db && cfg.store) throw new Error('--db and --store: give one of them');
  if (!cfg.db && !cfg.store) throw new Error('--store (or --db) is required');
  for (const k of ['ca', 'cert', 'key']) if (!cfg[k]) throw new Error(`--${k} is required`);
  // Checked before anything is opened or created.
  const limits: ManagerServerOptions = {};
  for (const [k, set] of Object.entries(LIMIT_FLAGS)) if (cfg[k] !== undefined) set(limits, positiveInt(k, cfg[k]));
  const log = createLogger({ component: 'manager', id: cfg.id });
  const init = (cfg as Record<string, unknown>)['init-db'] === true;
  const store = await openStore(cfg, init, log);
  const replicas =
    store instanceof EtcdStore
      ? await EtcdReplicas.start({ client: store.etcd, storePrefix: store.keyPrefix, id: cfg.id, ttlS, log: log.child({ component: 'replicas' }) })
      : undefined;
  const manager = new Manager(store, { id: cfg.id, log, replicas, ackTimeoutMs: cfg['ack-timeout-ms'] ? Number(cfg['ack-timeout-ms']) : undefined });
  const srv = await startManagerServer(manager, serverCredentials(loadTls({ ca: cfg.ca!, cert: cfg.cert!, key: cfg.key! })), cfg.listen!, log, limits);
  let metrics: Awaited<ReturnType<typeof serveMetrics>> | undefined;
  if (cfg.metrics) {
    const i = cfg.metrics.lastIndexOf(':');
    metrics = await serveMetrics(() => renderManagerMetrics(manager), cfg.metrics.slice(0, i), Number(cfg.metrics.slice(i + 1)));
    log.info('metrics listening', { address: cfg.metrics, port: metrics.port });
  }
  // One line on stdout for supervisors and tests: the bound ports.
  process.stdout.write(JSON.stringify({ ready: true, port: srv.port, metricsPort: metrics?.port ?? 0 }) + '\n');
  const stop = async (sig: string) => {
    log.info('shutting down', { signal: sig });
    await srv.shutdown();
    await metrics?.close();
    await store.flush().catch((e) => log.warn('store writes not flushed at shutdown', { error: (e as Error).message }));
    await replicas?.close();
    store.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((e) => {
  process.stderr.write(JSON.stringify({ level: 'error', msg: 'manager failed to start', error: (e as Error).message }) + '\n');
  process.exit(1);
});
