/**
 * One TCP port that serves gRPC over mutual TLS and over plaintext HTTP/2.
 *
 * OSM's LCM dials the EE's single service port (50050), tries mutual TLS first and, when the
 * server answers plaintext (OpenSSL "WRONG_VERSION_NUMBER") and TLS is not enforced, retries in
 * plaintext on the same port. To serve both kinds of LCM on one port, every accepted connection is
 * classified by its first byte: 0x16 is a TLS handshake record, anything else (the HTTP/2 preface
 * starts with "PRI ") is plaintext. The socket is then handed to grpc-js through a connection
 * injector built with the matching credentials, so TLS still terminates inside grpc-js and
 * `call.getAuthContext()` sees the verified client certificate.
 */
import { createServer, type Server as NetServer, type Socket } from 'node:net';
import type { Server, ServerCredentials } from '@grpc/grpc-js';

export type Transport = 'tls' | 'plaintext';

export interface DualListenerOptions {
  /** Credentials for TLS connections; null = no TLS (every connection goes to the plaintext server). */
  tls: ServerCredentials | null;
  /** Plaintext credentials (ServerCredentials.createInsecure()); null = plaintext refused (sent to the TLS server). */
  plaintext: ServerCredentials | null;
  /** How long a new connection may stay silent before it is dropped (ms). */
  sniffTimeoutMs?: number;
  /** Called for connections that are refused (e.g. plaintext when TLS is enforced). */
  onRefused?: (why: string, remote: string) => void;
}

export interface DualListener {
  port: number;
  close(graceMs?: number): Promise<void>;
}

const TLS_HANDSHAKE = 0x16;

export function classify(firstByte: number): Transport {
  return firstByte === TLS_HANDSHAKE ? 'tls' : 'plaintext';
}

export async function listenDual(server: Server, host: string, port: number, opts: DualListenerOptions): Promise<DualListener> {
  if (!opts.tls && !opts.plaintext) throw new Error('neither TLS nor plaintext credentials given');
  const tlsInj = opts.tls ? server.createConnectionInjector(opts.tls) : null;
  const plainInj = opts.plaintext ? server.createConnectionInjector(opts.plaintext) : null;
  const sniffTimeout = opts.sniffTimeoutMs ?? 10_000;
  const sockets = new Set<Socket>();

  const onConnection = (sock: Socket) => {
    sockets.add(sock);
    sock.once('close', () => sockets.delete(sock));
    const remote = `${sock.remoteAddress ?? '?'}:${sock.remotePort ?? '?'}`;
    const timer = setTimeout(() => sock.destroy(), sniffTimeout);
    timer.unref();
    const fail = () => {
      clearTimeout(timer);
      sock.destroy();
    };
    sock.once('error', fail);
    sock.once('readable', () => {
      clearTimeout(timer);
      sock.removeListener('error', fail);
      const head: Buffer | null = sock.read(1);
      if (head === null) {
        sock.destroy();
        return;
      }
      // Put the byte back: Node's TLS and HTTP/2 session setup drain data already buffered in the
      // JS stream before they attach to the native handle.
      sock.unshift(head);
      const kind = classify(head[0]!);
      // A kind we do not serve goes to the other server anyway, so the client sees what a
      // single-protocol server would answer: a plaintext HTTP/2 server's SETTINGS frame makes a TLS
      // client fail with WRONG_VERSION_NUMBER (LCM's cue to fall back to plaintext); a TLS server
      // makes a plaintext client fail its HTTP/2 handshake.
      const inj = kind === 'tls' ? (tlsInj ?? plainInj) : (plainInj ?? tlsInj);
      if (inj === (kind === 'tls' ? plainInj : tlsInj)) {
        opts.onRefused?.(kind === 'tls' ? 'TLS handshake on a plaintext-only server' : 'plaintext connection while TLS is enforced', remote);
      }
      inj!.injectConnection(sock);
    });
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
        tlsInj?.drain(graceMs);
        plainInj?.drain(graceMs);
        net.close(() => resolve());
        setTimeout(() => {
          for (const s of sockets) s.destroy();
          tlsInj?.destroy();
          plainInj?.destroy();
        }, graceMs).unref();
      }),
  };
}
