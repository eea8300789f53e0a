#!/usr/bin/env node
/**
 * macsec-osm-ee: the OSM helm execution environment for the MACsec manager.
 *
 *   node --import tsx src/osm/main.ts [options]      (or node dist/src/osm/main.js after a build)
 *
 * Every option has an environment variable (used by the Helm chart); options win.
 *   --listen HOST:PORT          OSM_EE_LISTEN            default 0.0.0.0:50050
 *   --tls-cert FILE             OSM_EE_TLS_CERT          server certificate (OSM secret ee-tls: tls.crt)
 *   --tls-key FILE              OSM_EE_TLS_KEY           its key (tls.key)
 *   --tls-ca FILE               OSM_EE_TLS_CA            CA of LCM's client certificates (osm-ca: ca.crt)
 *   --allow-plaintext           OSM_EE_ALLOW_PLAINTEXT=1 also serve unauthenticated plaintext (pre-TLS LCMs only;
 *                                                        restricted to what this EE created, see docs/osm.md)
 *   --tls-enforce               OSM_EE_TLS_ENFORCE=1     mutual TLS only (the default; kept for old charts)
 *   --handshake-timeout-ms N    OSM_EE_HANDSHAKE_TIMEOUT_MS  TLS + HTTP/2 preface deadline (default 10000)
 *   --max-connections N         OSM_EE_MAX_CONNECTIONS   connections open at once (default 64)
 *   --state-dir DIR             OSM_EE_STATE_DIR         keeps config (0600) and generated PSKs/SSH key
 *   --ssh-key none|generate|FILE  OSM_EE_SSH_KEY         GetSshKey answer (default none = "")
 *   --manager ADDR              MACSEC_MANAGER_ADDRESS   defaults for the config primitive
 *   --manager-ca FILE           MACSEC_MANAGER_CA
 *   --manager-cert FILE         MACSEC_MANAGER_CERT
 *   --manager-key FILE          MACSEC_MANAGER_KEY
 *   --manager-server-name NAME  MACSEC_MANAGER_SERVER_NAME
 *   --vnf-id ID                 OSM_EE_VNF_ID
 *   --agent-id ID               OSM_EE_AGENT_ID
 * With TLS material the EE serves mutual TLS only. Plaintext needs --allow-plaintext; without it,
 * missing or incomplete TLS files are an error (the EE does not start) instead of a silent
 * downgrade. With --allow-plaintext and missing TLS files it serves plaintext only, like OSM's own
 * EE without certificates (LCM's fallback on WRONG_VERSION_NUMBER).
 */
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createLogger } from '../common/log.js';
import { startEeServer, type EeTls } from './server.js';
import { resolveSshPublicKey, type SshKeySetting } from './ssh-key.js';
import type { ConfigDefaults } from './primitives.js';

const { values } = parseArgs({
  options: {
    listen: { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'tls-ca': { type: 'string' },
    'tls-optional-client-cert': { type: 'boolean' },
    'tls-enforce': { type: 'boolean' },
    'allow-plaintext': { type: 'boolean' },
    'handshake-timeout-ms': { type: 'string' },
    'max-connections': { type: 'string' },
    'state-dir': { type: 'string' },
    'ssh-key': { type: 'string' },
    manager: { type: 'string' },
    'manager-ca': { type: 'string' },
    'manager-cert': { type: 'string' },
    'manager-key': { type: 'string' },
    'manager-server-name': { type: 'string' },
    'vnf-id': { type: 'string' },
    'agent-id': { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
  strict: true,
});

if (values.help) {
  process.stdout.write(
    'usage: macsec-osm-ee [--listen HOST:PORT] [--tls-cert F --tls-key F --tls-ca F] [--allow-plaintext] [--state-dir D] [--ssh-key none|generate|FILE] [--manager ADDR --manager-ca F --manager-cert F --manager-key F]\nSee docs/osm.md.\n',
  );
  process.exit(0);
}

const env = process.env;
const opt = (name: keyof typeof values, envName: string): string | undefined => {
  const v = values[name];
  if (typeof v === 'string' && v !== '') return v;
  const e = env[envName];
  return e !== undefined && e !== '' ? e : undefined;
};
const flag = (name: keyof typeof values, envName: string): boolean => values[name] === true || /^(1|true|yes)$/i.test(env[envName] ?? '');

const log = createLogger({ component: 'osm-ee' });

const listen = opt('listen', 'OSM_EE_LISTEN') ?? '0.0.0.0:50050';
const m = /^(.*):(\d+)$/.exec(listen);
if (!m) {
  log.error('bad --listen (want HOST:PORT)', { listen });
  process.exit(2);
}
const host = m[1]!.replace(/^\[(.*)\]$/, '$1');
const port = Number(m[2]);

const allowPlaintext = flag('allow-plaintext', 'OSM_EE_ALLOW_PLAINTEXT');
if (flag('tls-optional-client-cert', 'OSM_EE_TLS_OPTIONAL_CLIENT_CERT')) {
  log.error('--tls-optional-client-cert was removed: TLS without a client certificate is as unauthenticated as plaintext (LCM always presents one)');
  process.exit(2);
}
if (allowPlaintext && flag('tls-enforce', 'OSM_EE_TLS_ENFORCE')) {
  log.error('--allow-plaintext and --tls-enforce contradict each other');
  process.exit(2);
}
const intOpt = (name: keyof typeof values, envName: string, min: number, max: number): number | undefined => {
  const v = opt(name, envName);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    log.error(`bad --${name} (want an integer ${min}..${max})`, { value: v.slice(0, 64) });
    process.exit(2);
  }
  return n;
};
const handshakeTimeoutMs = intOpt('handshake-timeout-ms', 'OSM_EE_HANDSHAKE_TIMEOUT_MS', 100, 600_000);
const maxConnections = intOpt('max-connections', 'OSM_EE_MAX_CONNECTIONS', 1, 100_000);

let tls: EeTls | null = null;
const certF = opt('tls-cert', 'OSM_EE_TLS_CERT');
const keyF = opt('tls-key', 'OSM_EE_TLS_KEY');
const caF = opt('tls-ca', 'OSM_EE_TLS_CA');
const tlsFiles = { cert: certF ?? null, key: keyF ?? null, ca: caF ?? null };
if (certF || keyF || caF) {
  const missing = [certF, keyF, caF].filter((f) => !f || !existsSync(f));
  if (missing.length === 0) {
    tls = { cert: readFileSync(certF!), key: readFileSync(keyF!), ca: readFileSync(caF!) };
  } else if (allowPlaintext) {
    log.warn('TLS files incomplete; serving PLAINTEXT ONLY because --allow-plaintext is set', tlsFiles);
  } else {
    log.error(
      'TLS files incomplete (server certificate, key and client CA are all needed); refusing to start without TLS (--allow-plaintext serves plaintext for pre-TLS LCMs)',
      tlsFiles,
    );
    process.exit(1);
  }
} else if (!allowPlaintext) {
  log.error('no TLS material (--tls-cert, --tls-key, --tls-ca); refusing to serve unauthenticated plaintext unless --allow-plaintext is given');
  process.exit(2);
}
const stateDir = opt('state-dir', 'OSM_EE_STATE_DIR');

const sshOpt = opt('ssh-key', 'OSM_EE_SSH_KEY') ?? 'none';
let ssh: SshKeySetting;
if (sshOpt === 'none') ssh = { mode: 'none' };
else if (sshOpt === 'generate') {
  if (!stateDir) {
    log.error('--ssh-key generate needs --state-dir');
    process.exit(2);
  }
  ssh = { mode: 'generate', stateDir };
} else ssh = { mode: 'file', path: sshOpt };

const defaults: ConfigDefaults = {};
const setDef = (k: keyof ConfigDefaults, v: string | undefined) => {
  if (v) defaults[k] = v;
};
setDef('managerAddress', opt('manager', 'MACSEC_MANAGER_ADDRESS'));
setDef('caPath', opt('manager-ca', 'MACSEC_MANAGER_CA'));
setDef('certPath', opt('manager-cert', 'MACSEC_MANAGER_CERT'));
setDef('keyPath', opt('manager-key', 'MACSEC_MANAGER_KEY'));
setDef('serverName', opt('manager-server-name', 'MACSEC_MANAGER_SERVER_NAME'));
setDef('vnfId', opt('vnf-id', 'OSM_EE_VNF_ID'));
setDef('agentId', opt('agent-id', 'OSM_EE_AGENT_ID'));

try {
  const ee = await startEeServer({
    host,
    port,
    tls,
    allowPlaintext,
    ...(handshakeTimeoutMs !== undefined ? { handshakeTimeoutMs } : {}),
    ...(maxConnections !== undefined ? { maxConnections } : {}),
    ...(stateDir ? { stateDir } : {}),
    defaults,
    sshPublicKey: resolveSshPublicKey(ssh),
    logger: log,
  });
  // A line for scripts and tests that start the EE on port 0.
  process.stdout.write(JSON.stringify({ listening: ee.port, transports: ee.transports }) + '\n');
  let closing = false;
  const stop = (sig: string) => {
    if (closing) return;
    closing = true;
    log.info('shutting down', { signal: sig });
    void ee.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
} catch (e) {
  log.error('cannot start', { error: e as Error });
  process.exit(1);
}
