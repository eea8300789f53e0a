/**
 * RADIUS client over UDP (RFC 2865/2869/3579/5080): Message-Authenticator on every request and
 * verified on every reply, Response Authenticator check, retransmission with the same identifier
 * and authenticator, failover between servers. Never throws for network or protocol problems:
 * `exchange` resolves to an error result with a clear message.
 */
import { randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { type EapLogger, nullLogger, formatDecodeError } from './decode.js';
import {
  Attr,
  type RadiusAttribute,
  RadiusCode,
  type RadiusPacket,
  decodeRadius,
  encodeRadius,
  radiusCodeName,
  signMessageAuthenticator,
  verifyMessageAuthenticator,
  verifyResponseAuthenticator,
} from './radius.js';

export interface RadiusServerConfig {
  readonly host: string;
  /** Default 1812. */
  readonly port?: number;
  /** Shared secret. Secret: never logged. */
  readonly secret: string;
}

export interface RadiusClientConfig {
  readonly servers: readonly RadiusServerConfig[];
  /** Wait per attempt (default 2000 ms). */
  readonly timeoutMs?: number;
  /** Attempts per server, including the first (default 3). */
  readonly attempts?: number;
  readonly logger?: EapLogger;
}

export type RadiusExchangeResult =
  | {
      readonly ok: true;
      readonly reply: RadiusPacket;
      /** Index of the server that answered (pin later requests of the same EAP session to it). */
      readonly serverIndex: number;
      readonly requestAuthenticator: Uint8Array;
      /** The answering server's shared secret (for MS-MPPE key decryption). */
      readonly secret: string;
    }
  | { readonly ok: false; readonly error: string };

interface Pending {
  readonly id: number;
  readonly server: RadiusServerConfig;
  readonly requestAuthenticator: Uint8Array;
  badReplies: number;
  lastBadReason: string;
  resolve(p: RadiusPacket): void;
}

function label(s: RadiusServerConfig): string {
  return `${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port ?? 1812}`;
}

export class RadiusClient {
  private readonly log: EapLogger;
  private sockets = new Map<'udp4' | 'udp6', dgram.Socket>();
  private readonly pending = new Map<string, Pending>();
  private nextId = Math.floor(Math.random() * 256);
  private preferred = 0;
  private closed = false;

  constructor(readonly config: RadiusClientConfig) {
    if (config.servers.length === 0) throw new Error('RADIUS client needs at least one server');
    this.log = config.logger ?? nullLogger;
  }

  private socket(family: 'udp4' | 'udp6'): dgram.Socket {
    let s = this.sockets.get(family);
    if (!s) {
      s = dgram.createSocket(family);
      s.on('message', (msg, rinfo) => this.onMessage(family, msg, rinfo));
      s.on('error', (e) => this.log('error', 'RADIUS socket error', { error: e.message }));
      s.unref();
      this.sockets.set(family, s);
    }
    return s;
  }

  private allocId(family: string): number | undefined {
    for (let i = 0; i < 256; i++) {
      const id = (this.nextId + i) & 0xff;
      if (!this.pending.has(`${family}:${id}`)) {
        this.nextId = (id + 1) & 0xff;
        return id;
      }
    }
    return undefined;
  }

  private onMessage(family: string, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const buf = new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength);
    if (buf.length < 2) return;
    const p = this.pending.get(`${family}:${buf[1]}`);
    if (!p) {
      this.log('debug', 'RADIUS reply matches no pending request', { from: `${rinfo.address}:${rinfo.port}` });
      return;
    }
    if (rinfo.port !== (p.server.port ?? 1812) || !sameHost(rinfo.address, p.server.host)) {
      this.log('warn', 'RADIUS reply from an unexpected address ignored', { from: `${rinfo.address}:${rinfo.port}` });
      return;
    }
    const bad = (reason: string) => {
      p.badReplies++;
      p.lastBadReason = reason;
      this.log('warn', 'RADIUS reply discarded', { server: label(p.server), reason });
    };
    const d = decodeRadius(buf);
    if (!d.ok) return bad(`malformed reply: ${formatDecodeError(d.error)}`);
    const code = d.value.code;
    if (code !== RadiusCode.AccessAccept && code !== RadiusCode.AccessReject && code !== RadiusCode.AccessChallenge) {
      return bad(`unexpected reply code ${radiusCodeName(code)}`);
    }
    const raw = buf.subarray(0, (buf[2]! << 8) | buf[3]!);
    if (!verifyResponseAuthenticator(raw, p.requestAuthenticator, p.server.secret)) {
      return bad('Response Authenticator mismatch (wrong shared secret or forged reply)');
    }
    if (!verifyMessageAuthenticator(raw, p.server.secret, p.requestAuthenticator)) {
      return bad('Message-Authenticator missing or invalid (wrong shared secret or forged reply)');
    }
    this.pending.delete(`${family}:${p.id}`);
    p.resolve({
      ...d.value,
      authenticator: Uint8Array.from(d.value.authenticator),
      attributes: d.value.attributes.map((a) => ({ type: a.type, value: Uint8Array.from(a.value) })),
    });
  }

  /**
   * Sends an Access-Request with `attributes` (a Message-Authenticator is added) and waits for a
   * verified reply. Tries `pinned` only when given, else the preferred server then the others.
   */
  async exchange(attributes: readonly RadiusAttribute[], pinned?: number): Promise<RadiusExchangeResult> {
    if (this.closed) return { ok: false, error: 'RADIUS client closed' };
    const order = pinned !== undefined ? [pinned] : this.config.servers.map((_, i) => (this.preferred + i) % this.config.servers.length);
    const problems: string[] = [];
    for (const idx of order) {
      const server = this.config.servers[idx]!;
      const r = await this.tryServer(server, attributes);
      if (r.ok) {
        this.preferred = idx;
        return { ok: true, reply: r.reply, serverIndex: idx, requestAuthenticator: r.requestAuthenticator, secret: server.secret };
      }
      problems.push(r.error);
      if (order.length > 1) this.log('warn', 'RADIUS server failed, failing over', { server: label(server), error: r.error });
    }
    const error = problems.join('; ');
    this.log('error', 'RADIUS request failed', { error });
    return { ok: false, error };
  }

  private async tryServer(
    server: RadiusServerConfig,
    attributes: readonly RadiusAttribute[],
  ): Promise<{ ok: true; reply: RadiusPacket; requestAuthenticator: Uint8Array } | { ok: false; error: string }> {
    const family = isIPv6(server.host) ? 'udp6' : 'udp4';
    const id = this.allocId(family);
    if (id === undefined) return { ok: false, error: `${label(server)}: 256 requests outstanding` };
    const requestAuthenticator = Uint8Array.from(randomBytes(16));
    let packet: Uint8Array;
    try {
      packet = encodeRadius({
        code: RadiusCode.AccessRequest,
        id,
        authenticator: requestAuthenticator,
        attributes: [...attributes.filter((a) => a.type !== Attr.MessageAuthenticator), { type: Attr.MessageAuthenticator, value: new Uint8Array(16) }],
      });
      signMessageAuthenticator(packet, server.secret);
    } catch (e) {
      return { ok: false, error: `cannot encode Access-Request: ${(e as Error).message}` };
    }
    const sock = this.socket(family);
    const key = `${family}:${id}`;
    const attempts = Math.max(1, this.config.attempts ?? 3);
    const timeoutMs = this.config.timeoutMs ?? 2000;
    return await new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let tries = 0;
      const pend: Pending = {
        id,
        server,
        requestAuthenticator,
        badReplies: 0,
        lastBadReason: '',
        resolve: (reply) => {
          clearTimeout(timer);
          resolve({ ok: true, reply, requestAuthenticator });
        },
      };
      this.pending.set(key, pend);
      const send = () => {
        if (this.closed) {
          this.pending.delete(key);
          resolve({ ok: false, error: 'RADIUS client closed' });
          return;
        }
        tries++;
        sock.send(packet, server.port ?? 1812, server.host, (err) => {
          if (err) this.log('warn', 'RADIUS send failed', { server: label(server), error: err.message });
        });
        timer = setTimeout(() => {
          if (tries < attempts) {
            this.log('debug', 'RADIUS retransmission', { server: label(server), id, attempt: tries + 1 });
            send();
            return;
          }
          this.pending.delete(key);
          const why =
            pend.badReplies > 0
              ? `${pend.badReplies} replies failed verification, last: ${pend.lastBadReason}`
              : 'no reply (a server drops requests whose Message-Authenticator does not verify, e.g. with a wrong shared secret)';
          resolve({ ok: false, error: `${label(server)}: timeout after ${tries} attempts: ${why}` });
        }, timeoutMs);
      };
      send();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const s of this.sockets.values()) s.close();
    this.sockets.clear();
  }
}

function sameHost(addr: string, host: string): boolean {
  if (addr === host) return true;
  if (host === 'localhost') return addr === '127.0.0.1' || addr === '::1';
  return addr.replace(/^::ffff:/, '') === host.replace(/^::ffff:/, '');
}
