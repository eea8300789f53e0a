/**
 * The EE's one TCP port: gRPC over mutual TLS, and, only when explicitly allowed, over plaintext
 * HTTP/2 (pre-TLS LCMs).
 *
 * Every accepted connection is classified by its first byte: 0x16 is a TLS handshake record,
 * anything else (the HTTP/2 preface starts with "PRI ") is plaintext. TLS is terminated here by a
 * private `tls.Server` (client certificate required and verified against OSM's CA, ALPN h2), and
 * the verified TLS socket is then handed to grpc-js through a connection injector, so
 * `call.getAuthContext()` still reports `ssl` and the client certificate (grpc-js derives both from
 * the session's socket being an authorized TLSSocket). Plaintext sockets go to the same injector
 * and carry no certificate, so handlers can always tell an authenticated caller from an
 * unauthenticated one.
 *
 * Nothing reaches grpc-js before it is complete: a connection must send its first byte, finish the
 * TLS handshake (for TLS) and send the full 24-octet HTTP/2 client preface within
 * `handshakeTimeoutMs` (default 10 s) or it is destroyed. At most `maxConnections` connections are
 * open at once, and at most `maxPendingPerAddress` unfinished ones per client address, so silent
 * or slow clients cannot pile up sockets and TLS state.
 */
import type { Server } from '@grpc/grpc-js';
import { ServerCredentials } from '@grpc/grpc-js';
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';

export type Transport = 'tls' | 'plaintext';

export interface ListenerTls {
  /** CA of the client certificates (OSM's CA). */
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export interface DualListenerOptions {
  /** Mutual TLS material; null = no TLS (plaintext only, which then needs `plaintext: true`). */
  tls: ListenerTls | null;
  /** Serve plaintext HTTP/2 (unauthenticated). */
  plaintext: boolean;
  /** First byte + TLS handshake + HTTP/2 preface must complete within this (ms). Default 10 s. */
  handshakeTimeoutMs?: number;
  /** Connections open at once (default 64); more are closed at accept. */
  maxConnections?: number;
  /** Unfinished (not yet handed to gRPC) connections per client address (default 8). */
  maxPendingPerAddress?: number;
  /** Called for connections that are refused or dropped (kind of refusal, client address). */
  onRefused?: (why: string, remote: string) => void;
}

export interface DualListener {
  port: number;
  close(graceMs?: number): Promise<void>;
}

const TLS_HANDSHAKE = 0x16;
/** RFC 9113 section 3.4: the client connection preface. */
export const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export function classify(firstByte: number): Transport {
  return firstByte === TLS_HANDSHAKE ? 'tls' : 'plaintext';
}

/** Resolves with exactly n bytes read from the stream, or null if it ends/fails first. */
function readExactly(sock: Socket, n: number): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const done = (v: Buffer | null) => {
      sock.removeListener('readable', onReadable);
      sock.removeListener('end', onEnd);
      sock.removeListener('close', onEnd);
      sock.removeListener('error', onEnd);
      resolve(v);
    };
    const onReadable = () => {
      const b: Buffer | null = sock.read(n);
      if (b !== null) done(b.length === n ? b : null);
    };
    const onEnd = () => done(null);
    sock.on('readable', onReadable);
    sock.once('end', onEnd);
    sock.once('close', onEnd);
    sock.once('error', onEnd);
    onReadable();
  });
}

export async function listenDual(server: Server, host: string, port: number, opts: DualListenerOptions): Promise<DualListener> {
  if (!opts.tls && !opts.plaintext) throw new Error('neither TLS nor plaintext is enabled');
  const timeoutMs = opts.handshakeTimeoutMs ?? 10_000;
  const maxConnections = opts.maxConnections ?? 64;
  const maxPending = opts.maxPendingPerAddress ?? 8;
  // One injector: TLS is already terminated (and the client verified) when a socket gets here.
  const inj = server.createConnectionInjector(ServerCredentials.createInsecure());
  const sockets = new Set<Socket>();
  const pending = new Map<string, number>();
  const refuse = (why: string, remote: string) => opts.onRefused?.(why, remote);

  const tlsServer = opts.tls
    ? createTlsServer({
        ca: opts.tls.ca,
        cert: opts.tls.cert,
        key: opts.tls.key,
        requestCert: true,
        rejectUnauthorized: true,
        ALPNProtocols: ['h2'],
        minVersion: 'TLSv1.2',
        handshakeTimeout: timeoutMs,
      })
    : null;
  // Node reports handshake failures (no/foreign client certificate, timeout) here; with a listener
  // attached it leaves closing the socket to us.
  // The TLS socket of a connection, found by its client address and port (the same TCP connection).
  const awaitingTls = new Map<string, (t: TLSSocket) => void>();
  tlsServer?.on('secureConnection', (t: TLSSocket) => {
    t.on('error', () => {});
    const key = `${t.remoteAddress ?? '?'}:${t.remotePort ?? '?'}`;
    const next = awaitingTls.get(key);
    awaitingTls.delete(key);
    if (next) next(t);
    else t.destroy();
  });
  tlsServer?.on('tlsClientError', (e, t) => {
    refuse(`TLS handshake failed: ${e.message.split('\n')[0]!.slice(0, 120)}`, `${t.remoteAddress ?? '?'}:${t.remotePort ?? '?'}`);
    t.destroy();
  });

  const onConnection = (raw: Socket) => {
    const addr = raw.remoteAddress ?? '?';
    const remote = `${addr}:${raw.remotePort ?? '?'}`;
    raw.on('error', () => {});
    if (sockets.size >= maxConnections) {
      refuse(`more than ${maxConnections} connections open`, remote);
      raw.destroy();
      return;
    }
    const mine = pending.get(addr) ?? 0;
    if (mine >= maxPending) {
      refuse(`more than ${maxPending} unfinished connections from ${addr}`, remote);
      raw.destroy();
      return;
    }
    sockets.add(raw);
    pending.set(addr, mine + 1);
    let settled = false;
    let tlsSock: TLSSocket | undefined;
    const unpend = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const n = (pending.get(addr) ?? 1) - 1;
      if (n <= 0) pending.delete(addr);
      else pending.set(addr, n);
    };
    const drop = (why: string) => {
      if (!settled) refuse(why, remote);
      unpend();
      tlsSock?.destroy();
      raw.destroy();
    };
    raw.once('close', () => {
      sockets.delete(raw);
      unpend();
    });
    const timer = setTimeout(
      () => drop(`did not complete ${tlsSock ? 'TLS and the HTTP/2 preface' : 'the connection setup'} within ${timeoutMs} ms`),
      timeoutMs,
    );
    timer.unref();
    const handOver = (s: Socket, preface: Buffer) => {
      // Put the preface back: Node's HTTP/2 session setup first consumes data already buffered in
      // the JS stream.
      s.unshift(preface);
      unpend();
      inj.injectConnection(s);
    };

    void (async () => {
      const first = await readExactly(raw, 1);
      if (first === null || settled) return drop('closed before sending anything');
      raw.unshift(first);
      const kind = classify(first[0]!);
      if (kind === 'tls' && tlsServer) {
        awaitingTls.set(remote, (t: TLSSocket) => {
          tlsSock = t;
          void readExactly(t, HTTP2_PREFACE.length).then((pre) => {
            if (settled) return;
            if (pre === null || !pre.equals(HTTP2_PREFACE)) return drop('TLS connection without an HTTP/2 preface');
            handOver(t, pre);
          });
        });
        raw.once('close', () => awaitingTls.delete(remote));
        tlsServer.emit('connection', raw);
        return;
      }
      if (kind === 'plaintext' && !opts.plaintext) return drop('plaintext connection refused (mutual TLS only)');
      const pre = await readExactly(raw, HTTP2_PREFACE.length);
      if (settled) return;
      if (pre === null) return drop('closed before sending the HTTP/2 preface');
      if (kind === 'tls') {
        // A TLS client on a plaintext-only EE: the HTTP/2 server's SETTINGS frame makes it fail with
        // WRONG_VERSION_NUMBER, which is LCM's cue to fall back to plaintext.
        refuse('TLS handshake on a plaintext-only server', remote);
        return handOver(raw, pre);
      }
      if (!pre.equals(HTTP2_PREFACE)) return drop('not an HTTP/2 connection');
      handOver(raw, pre);
    })();
  };

  const net: NetServer = createServer({ pauseOnConnect: false }, onConnection);
  await new Promise<void>((resolve, reject) => {
    net.once('error', reject);
    net.listen(port, host, () => {
      net.removeListener('error', reject);
      resolve();
    });
  });
  const addr = net.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  return {
    port: bound,
    close: (graceMs = 1000) =>
      new Promise<void>((resolve) => {
        inj.drain(graceMs);
        net.close(() => resolve());
        setTimeout(() => {
          for (const s of sockets) s.destroy();
          inj.destroy();
        }, graceMs).unref();
      }),
  };
}
