/** Backend selection: RADIUS relay when servers are configured, else the embedded EAP-TLS server. */
import type { EapBackend } from './backend.js';
import type { EapLogger } from './decode.js';
import { EapTlsServer, type EapTlsServerConfig } from './eaptls-server.js';
import { RadiusBackend, type RadiusBackendConfig } from './radius-backend.js';

export interface EapBackendConfig {
  /** RADIUS relay settings; used when at least one server is listed. */
  readonly radius?: Omit<RadiusBackendConfig, 'logger'>;
  /** Embedded EAP-TLS server settings (the default backend). */
  readonly embedded?: Omit<EapTlsServerConfig, 'logger'>;
  readonly logger?: EapLogger;
}

export function createEapBackend(cfg: EapBackendConfig): EapBackend {
  const logger = cfg.logger ? { logger: cfg.logger } : {};
  if (cfg.radius && cfg.radius.servers.length > 0) return new RadiusBackend({ ...cfg.radius, ...logger });
  if (!cfg.embedded) throw new Error('no RADIUS server and no embedded EAP-TLS server configured');
  return new EapTlsServer({ ...cfg.embedded, ...logger });
}
