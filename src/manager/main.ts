#!/usr/bin/env node
/**
 * macsec-manager: the control-plane manager.
 *   macsec-manager --listen 0.0.0.0:50051 --db /var/lib/macsec/manager.db --ca pki/ca.crt --cert pki/manager.crt --key pki/manager.key \
 *                  [--init-db] [--metrics 127.0.0.1:9464] [--id manager] [--ack-timeout-ms 10000] [--config manager.yaml]
 * A YAML config file may hold the same keys (listen, db, ca, cert, key, metrics, id, init-db).
 * --db has no default and a missing store is an error unless --init-db: a manager that silently
 * started on an empty store would stop every running port of its agents.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { createLogger } from '../control/log.js';
import { loadTls, serverCredentials } from '../control/tls.js';
import { serveMetrics } from '../control/metrics.js';
import { Manager } from './manager.js';
import { startManagerServer } from './server.js';
import { SqliteStore } from './sqlite-store.js';
import { renderManagerMetrics } from './metrics.js';

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      listen: { type: 'string' },
      db: { type: 'string' },
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      metrics: { type: 'string' },
      id: { type: 'string' },
      'ack-timeout-ms': { type: 'string' },
      'init-db': { type: 'boolean' },
    },
  });
  const file = values.config ? (parseYaml(readFileSync(values.config, 'utf8')) as Record<string, string>) : {};
  const cfg = {
    listen: '127.0.0.1:50051',
    id: 'manager',
    ...file,
    ...Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)),
  } as Record<string, string>;
  for (const k of ['db', 'ca', 'cert', 'key']) if (!cfg[k]) throw new Error(`--${k} is required`);
  const log = createLogger({ component: 'manager', id: cfg.id });
  const init = (cfg as Record<string, unknown>)['init-db'] === true;
  const store = new SqliteStore(cfg.db!, { create: init });
  log.info('store opened', { db: cfg.db, store_id: store.storeId });
  const manager = new Manager(store, { id: cfg.id!, log, ackTimeoutMs: cfg['ack-timeout-ms'] ? Number(cfg['ack-timeout-ms']) : undefined });
  const srv = await startManagerServer(manager, serverCredentials(loadTls({ ca: cfg.ca!, cert: cfg.cert!, key: cfg.key! })), cfg.listen!, log);
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
