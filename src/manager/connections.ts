/**
 * The manager's listening socket: TLS terminated here (not inside grpc-js) so the manager can
 * bound what unauthenticated and authenticated peers may hold, then each connection is handed to
 * the gRPC server through a connection injector (grpc-js sees a TLSSocket, so getAuthContext()
 * still returns the verified client certificate, and keepalive works as on a bound port).
 *
 * Limits:
 *  - handshake deadline: TCP accept → TLS handshake done → first HTTP/2 bytes within
 *    `handshakeTimeoutMs`, else the socket is destroyed;
 *  - handshakes in progress at most `maxHandshakes`; when full, a newcomer from an address that
 *    holds at least two fewer pending handshakes than the busiest address takes the slot of that
 *    address's oldest handshake (so one address, or a few, flooding half-open handshakes cannot
 *    lock others out), otherwise the newcomer is refused;
 *  - open TCP connections at most `maxConnections` (net.Server.maxConnections: above it Node
 *    closes new sockets at once), by default derived from the process's open-file limit;
 *  - established connections per certificate identity at most `maxConnectionsPerPrincipal`.
 * Refusals are counted and logged as one summary line per 10 s, never one line per connection.
 */
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { createServer as createNetServer, type Server as NetServer } from 'node:net';
import { ServerCredentials, type Server } from '@grpc/grpc-js';
import { principalLabel, principalOfCert } from '../pki/identity.js';
import type { Logger } from '../common/log.js';

export interface ConnectionLimits {
  /** TLS handshake plus the first HTTP/2 bytes must arrive within this many ms (default 10 s). */
  handshakeTimeoutMs?: number;
  /** Open TCP connections, handshakes included (default: open-file limit minus headroom, ≤ 16384). */
  maxConnections?: number;
  /** TLS handshakes in progress (default maxConnections / 4, 8..256). */
  maxHandshakes?: number;
  /** Established connections per certificate identity (default 32). */
  maxConnectionsPerPrincipal?: number;
}

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_CONNECTIONS_PER_PRINCIPAL = 32;

/** The soft RLIMIT_NOFILE of this process (Linux /proc), or undefined. */
export function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Default connection cap: leave a quarter of the fd limit (at most 256) for the store, metrics, logs. */
export function defaultMaxConnections(limit = openFileLimit()): number {
  if (!limit) return 4096;
  return Math.max(16, Math.min(16_384, limit - Math.min(256, Math.floor(limit / 4))));
}

export interface ConnectionStats {
  open: number;
  handshaking: number;
  established: number;
  refused: Record<string, number>;
}

export interface ManagerListener {
  port: number;
  stats(): ConnectionStats;
  /** Stops accepting and destroys handshakes in progress (established sessions are grpc-js's). */
  close(): void;
  /** close() and destroy every connection. */
  destroyAll(): void;
}

interface Pending {
  raw: Socket;
  /** Set once TLS is done (destroy this one then: destroying the parent under TLS can crash Node). */
  tls?: TLSSocket;
  addr: string;
  since: number;
  timer: NodeJS.Timeout;
}

function parseListen(address: string): { host?: string; port?: number; path?: string } {
  if (address.startsWith('unix:')) return { path: address.slice(5).replace(/^\/\//, '') };
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:[\]]*):(\d+)$/.exec(address);
  if (!m) throw new Error(`listen address '${address}' is not host:port, [v6]:port or unix:path`);
  return { host: m[1] || undefined, port: Number(m[2]) };
}

/**
 * Listens on `address` and feeds connections to `server`. Secure credentials (the normal case)
 * are unpacked into a Node TLS server with the same CA, key pair and client-certificate
 * requirement; insecure credentials (tests only) skip the TLS stage.
 */
export async function listenGuarded(
  server: Server,
  creds: ServerCredentials,
  address: string,
  limits: ConnectionLimits,
  log: Logger,
): Promise<ManagerListener> {
  const handshakeMs = limits.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
  const maxConnections = limits.maxConnections ?? defaultMaxConnections();
  const maxHandshakes = limits.maxHandshakes ?? Math.max(8, Math.min(256, Math.floor(maxConnections / 4)));
  const perPrincipal = limits.maxConnectionsPerPrincipal ?? DEFAULT_MAX_CONNECTIONS_PER_PRINCIPAL;

  const ctor = creds._getConstructorOptions();
  const secure = ctor !== null;
  // Connections are injected already decrypted: grpc-js must not wrap them in TLS again.
  const injector = server.createConnectionInjector(secure ? ServerCredentials.createInsecure() : creds);

  const pending = new Map<Socket, Pending>();
  const byAddr = new Map<string, Set<Pending>>();
  const established = new Set<Socket>();
  const principals = new Map<string, number>();
  const refused: Record<string, number> = { overCapacity: 0, handshakesFull: 0, evicted: 0, handshakeTimeout: 0, tlsError: 0, principalLimit: 0 };
  let reported = { ...refused };
  const summary = setInterval(() => {
    const delta = Object.fromEntries(Object.entries(refused).map(([k, v]) => [k, v - (reported[k] ?? 0)]));
    if (Object.values(delta).some((v) => v > 0)) {
      log.warn('connections refused or dropped (last 10 s)', { ...delta, open: pending.size + established.size, handshaking: pending.size });
    }
    reported = { ...refused };
  }, 10_000);
  summary.unref();

  const forget = (p: Pending) => {
    clearTimeout(p.timer);
    pending.delete(p.raw);
    const set = byAddr.get(p.addr);
    set?.delete(p);
    if (set && set.size === 0) byAddr.delete(p.addr);
  };
  const drop = (p: Pending, why: keyof typeof refused) => {
    refused[why]!++;
    forget(p);
    (p.tls ?? p.raw).destroy();
  };

  const admit = (raw: Socket) => {
    const addr = raw.remoteAddress ?? '?';
    if (pending.size >= maxHandshakes) {
      let busiest: Set<Pending> | undefined;
      for (const set of byAddr.values()) if (!busiest || set.size > busiest.size) busiest = set;
      const mine = byAddr.get(addr)?.size ?? 0;
      const oldest = busiest && busiest.size >= mine + 2 ? busiest.values().next().value : undefined;
      if (!oldest) {
        refused.handshakesFull!++;
        raw.destroy();
        return;
      }
      drop(oldest, 'evicted');
    }
    const p: Pending = {
      raw,
      addr,
      since: Date.now(),
      timer: setTimeout(() => drop(p, 'handshakeTimeout'), handshakeMs),
    };
    p.timer.unref();
    pending.set(raw, p);
    let set = byAddr.get(addr);
    if (!set) byAddr.set(addr, (set = new Set()));
    set.add(p);
    raw.once('close', () => forget(p));
    raw.on('error', () => {});
  };

  /** Hands `sock` to grpc-js once its first HTTP/2 bytes are readable (still within the deadline). */
  const inject = (sock: Socket, p: Pending | undefined, onInjected: () => void) => {
    sock.once('readable', () => {
      if (p && !pending.has(p.raw)) return; // dropped meanwhile
      const head: Buffer | null = sock.read(1);
      if (head === null) {
        if (p) forget(p);
        sock.destroy();
        return;
      }
      // Put the byte back: the HTTP/2 session feeds itself what is already buffered.
      sock.unshift(head);
      if (p) forget(p);
      onInjected();
      injector.injectConnection(sock);
    });
  };

  let listener: NetServer | TlsServer;
  if (secure) {
    const ctx = creds._getSecureContextOptions() ?? {};
    const tlsServer = createTlsServer({
      ...ctor,
      ...ctx,
      requestCert: ctor.requestCert ?? false,
      rejectUnauthorized: true,
      ALPNProtocols: ['h2'],
      // Backstop only: our own deadline (which also covers HTTP/2 start) fires first.
      handshakeTimeout: handshakeMs + 1000,
    });
    tlsServer.on('connection', admit);
    tlsServer.on('tlsClientError', (_e, sock) => {
      refused.tlsError!++;
      sock.destroy();
    });
    tlsServer.on('secureConnection', (t: TLSSocket) => {
      const p = [...(byAddr.get(t.remoteAddress ?? '?') ?? [])].find((x) => x.raw.remotePort === t.remotePort);
      if (!p) {
        t.destroy();
        return;
      }
      p.tls = t;
      t.on('error', () => {});
      const cert = t.getPeerCertificate();
      const principal = cert?.raw ? principalOfCert(cert.raw) : null;
      // Without a macsec identity every call is refused (UNAUTHENTICATED); such certificates share
      // one budget, connections without a certificate (only if none is required) one per address.
      const who = principal ? principalLabel(principal) : cert?.raw ? 'no-identity' : `anonymous:${t.remoteAddress}`;
      const n = principals.get(who) ?? 0;
      if (n >= perPrincipal) {
        refused.principalLimit!++;
        forget(p);
        t.destroy();
        return;
      }
      principals.set(who, n + 1);
      established.add(t);
      t.once('close', () => {
        established.delete(t);
        const left = (principals.get(who) ?? 1) - 1;
        if (left <= 0) principals.delete(who);
        else principals.set(who, left);
      });
      inject(t, p, () => {});
    });
    listener = tlsServer;
  } else {
    const netServer = createNetServer((raw) => {
      admit(raw);
      const p = pending.get(raw);
      if (!p) return;
      inject(raw, p, () => {
        established.add(raw);
        raw.once('close', () => established.delete(raw));
      });
    });
    listener = netServer;
  }
  listener.maxConnections = maxConnections;
  listener.on('drop', () => refused.overCapacity!++);

  const where = parseListen(address);
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    const done = () => {
      listener.off('error', reject);
      resolve();
    };
    if (where.path) listener.listen(where.path, done);
    else listener.listen(where.port, where.host, done);
  });
  listener.on('error', (e) => log.error('manager listener error', { error: e.message }));
  const a = listener.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  log.info('manager connection limits', {
    handshake_timeout_ms: handshakeMs,
    max_connections: maxConnections,
    max_handshakes: maxHandshakes,
    per_principal: perPrincipal,
  });

  const close = () => {
    clearInterval(summary);
    listener.close();
    for (const p of [...pending.values()]) {
      forget(p);
      (p.tls ?? p.raw).destroy();
    }
  };
  return {
    port,
    stats: () => ({ open: pending.size + established.size, handshaking: pending.size, established: established.size, refused: { ...refused } }),
    close,
    destroyAll: () => {
      close();
      for (const s of established) s.destroy();
      injector.destroy();
    },
  };
}
