/** Per-call authorization: who is calling (from the verified client certificate) and may they. */
import { principalOfCert, principalLabel, type Principal } from '../pki/identity.js';
import { permissionDenied, unauthenticated } from '../common/errors.js';

export interface HasAuth {
  getAuthContext(): { sslPeerCertificate?: { raw?: Buffer } } | null;
}

/** The caller's principal; UNAUTHENTICATED without a verified certificate carrying a macsec identity. */
export function callerOf(call: HasAuth): Principal {
  const ctx = call.getAuthContext();
  const raw = ctx?.sslPeerCertificate?.raw;
  if (!raw) throw unauthenticated('a client certificate signed by the deployment CA is required');
  const p = principalOfCert(raw);
  if (!p) throw unauthenticated('client certificate carries no valid urn:macsec identity');
  return p;
}

export type Access = 'read' | 'write';

/**
 * Operator API: admin may read and write, read-only may read, orchestrator may read and write
 * what it owns (the manager checks ownership per object); agents and managers may do neither.
 */
export function requireOperator(call: HasAuth, access: Access, method: string): Principal & { kind: 'operator' } {
  const p = callerOf(call);
  if (p.kind !== 'operator') throw permissionDenied(`${principalLabel(p)} may not call the operator API (${method})`);
  if (access === 'write' && p.role === 'read-only') {
    throw permissionDenied(`${principalLabel(p)} is read-only and may not call ${method}`);
  }
  return p;
}

/** Who performs a write, as the manager sees it: the label is stored as the owner of what it creates. */
export interface Actor {
  label: string;
  /** admin may change anything; orchestrator only what carries its label as owner. */
  scoped: boolean;
}

export const actorOf = (p: Principal & { kind: 'operator' }): Actor => ({ label: principalLabel(p), scoped: p.role !== 'admin' });

/** The in-process actor (tests, the standalone tools): unrestricted. */
export const SYSTEM_ACTOR: Actor = { label: 'system', scoped: false };

export function requireAgent(call: HasAuth): Principal & { kind: 'agent' } {
  const p = callerOf(call);
  if (p.kind !== 'agent') throw permissionDenied(`${principalLabel(p)} is not an agent and may not open an agent stream`);
  return p;
}
