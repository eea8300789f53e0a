/**
 * Embedded EAP-TLS server (RFC 5216, RFC 9190) on Node's TLS engine over an in-memory stream.
 * One `tls.Server` (never listening) holds the shared secure context; every EAP session feeds
 * its own in-memory duplex into it with `server.emit('connection', ...)`.
 */
import * as tls from 'node:tls';
import type { Duplex } from 'node:stream';
import type { BackendStep, EapBackend, EapBackendContext, EapBackendSession } from './backend.js';
import { type EapLogger, nullLogger, formatDecodeError } from './decode.js';
import { EapCode, EapType, decodeEap, decodeEapTls, eapIdentityText, encodeEap, encodeEapTlsPacket } from './eap.js';
import { type IdentityPolicy, checkIdentityPolicy } from './identity-policy.js';
import { DEFAULT_FRAGMENT_SIZE, HelloRandomSniffer, TlsFragmenter, TlsReassembler } from './tls-frag.js';
import { deriveEapTlsKeys, type EapTlsKeyMaterial } from './tls-keys.js';
import { TlsWire } from './tls-wire.js';
import { macToString } from '../common/hex.js';

export interface EapTlsServerConfig {
  /** Trusted CA certificate(s) (PEM) for client certificates. */
  readonly ca: string | Buffer | (string | Buffer)[];
  /** Server certificate chain (PEM). */
  readonly cert: string | Buffer;
  /** Server private key (PEM). Secret. */
  readonly key: string | Buffer;
  /** Optional CRL(s) (PEM). */
  readonly crl?: string | Buffer | (string | Buffer)[];
  readonly minVersion?: 'TLSv1.2' | 'TLSv1.3';
  readonly maxVersion?: 'TLSv1.2' | 'TLSv1.3';
  /** Max TLS data octets per EAP-TLS message (default 1020). */
  readonly fragmentSize?: number;
  readonly identityPolicy?: IdentityPolicy;
  /** Upper bound on EAP round trips per session (default 64). */
  readonly maxRounds?: number;
  readonly logger?: EapLogger;
}

interface SessionHooks {
  onSecure(sock: tls.TLSSocket): void;
  onError(err: Error): void;
}

/** Embedded EAP server implementing only EAP-TLS. */
export class EapTlsServer implements EapBackend {
  readonly name = 'embedded-eap-tls';
  private readonly server: tls.Server;
  private readonly hooks = new Map<Duplex, SessionHooks>();
  readonly fragmentSize: number;
  readonly log: EapLogger;

  constructor(readonly config: EapTlsServerConfig) {
    this.fragmentSize = config.fragmentSize ?? DEFAULT_FRAGMENT_SIZE;
    new TlsFragmenter(this.fragmentSize); // validates the size
    this.log = config.logger ?? nullLogger;
    this.server = tls.createServer({
      ca: config.ca,
      cert: config.cert,
      key: config.key,
      ...(config.crl ? { crl: config.crl } : {}),
      minVersion: config.minVersion ?? 'TLSv1.2',
      maxVersion: config.maxVersion ?? 'TLSv1.3',
      requestCert: true,
      // The verification result is checked explicitly (authorized/authorizationError) so that the
      // rejection reason can be logged; nothing is released to the peer before that check.
      rejectUnauthorized: false,
    });
    this.server.on('secureConnection', (sock: tls.TLSSocket) => this.lookup(sock)?.onSecure(sock));
    this.server.on('tlsClientError', (err: Error, sock: tls.TLSSocket) => this.lookup(sock)?.onError(err));
  }

  private lookup(sock: tls.TLSSocket): SessionHooks | undefined {
    // Node keeps the wrapped JS stream on the handle's parent wrap.
    const raw = (sock as unknown as { _handle?: { _parentWrap?: { stream?: Duplex } } })._handle?._parentWrap?.stream;
    if (raw) return this.hooks.get(raw);
    return this.hooks.size === 1 ? this.hooks.values().next().value : undefined;
  }

  /** @internal */
  attach(wire: TlsWire, hooks: SessionHooks): void {
    this.hooks.set(wire.inner, hooks);
    this.server.emit('connection', wire.inner);
  }

  /** @internal */
  detach(wire: TlsWire): void {
    this.hooks.delete(wire.inner);
  }

  createSession(ctx: EapBackendContext): EapTlsServerSession {
    return new EapTlsServerSession(this, ctx);
  }

  async close(): Promise<void> {
    this.hooks.clear();
  }
}

type State = 'identity' | 'start' | 'handshake' | 'final' | 'done';

export class EapTlsServerSession implements EapBackendSession {
  private state: State = 'identity';
  private lastId = 0;
  private lastRequest: Uint8Array | undefined;
  private identity = '';
  private rounds = 0;
  private wire: TlsWire | undefined;
  private readonly frag: TlsFragmenter;
  private readonly reasm = new TlsReassembler();
  private readonly clientHello = new HelloRandomSniffer();
  private readonly serverHello = new HelloRandomSniffer();
  private secureSock: tls.TLSSocket | undefined;
  private tlsError: Error | undefined;
  private keys: EapTlsKeyMaterial | undefined;
  private readonly peer: string;

  constructor(
    private readonly srv: EapTlsServer,
    ctx: EapBackendContext,
  ) {
    this.frag = new TlsFragmenter(srv.fragmentSize);
    this.peer = macToString(ctx.supplicantMac);
  }

  async handle(eapResponse: Uint8Array): Promise<BackendStep> {
    try {
      return await this.step(eapResponse);
    } catch (e) {
      return this.fail(`internal error: ${(e as Error).message}`);
    }
  }

  private request(data: Uint8Array | undefined, start = false): BackendStep {
    this.lastId = (this.lastId + 1) & 0xff;
    const eap = start
      ? encodeEapTlsPacket(EapCode.Request, this.lastId, { start: true })
      : encodeEap({ code: EapCode.Request, id: this.lastId, type: EapType.Tls, data: data ?? Uint8Array.of(0) });
    this.lastRequest = eap;
    return { kind: 'request', eap };
  }

  private fail(reason: string): BackendStep {
    if (this.state !== 'done') {
      this.srv.log('warn', 'EAP-TLS authentication rejected', { peer: this.peer, identity: this.identity, reason });
    }
    this.state = 'done';
    // RFC 3748 4.2: Success/Failure carry the identifier of the response they answer.
    const eap = encodeEap({ code: EapCode.Failure, id: this.lastId });
    this.close();
    return { kind: 'failure', eap, reason };
  }

  private async step(buf: Uint8Array): Promise<BackendStep> {
    const d = decodeEap(buf);
    if (!d.ok) return { kind: 'discard', reason: `malformed EAP: ${formatDecodeError(d.error)}` };
    const p = d.value;
    if (p.code !== EapCode.Response) return { kind: 'discard', reason: `unexpected EAP ${EapCode[p.code]}` };
    if (this.state === 'done') return { kind: 'discard', reason: 'session finished' };
    if (this.state === 'identity') {
      if (p.type !== EapType.Identity) return { kind: 'discard', reason: 'expected Response/Identity' };
      this.identity = eapIdentityText(p);
      this.lastId = p.id;
      this.state = 'start';
      return this.request(undefined, true);
    }
    if (p.id !== this.lastId) return { kind: 'discard', reason: `identifier ${p.id} does not match request ${this.lastId}` };
    if (++this.rounds > (this.srv.config.maxRounds ?? 64)) return this.fail('too many EAP-TLS rounds');
    if (p.type === EapType.Nak) return this.fail('peer refused EAP-TLS (Nak)');
    if (p.type !== EapType.Tls) return this.fail(`unexpected EAP method ${p.type} in response`);
    const t = decodeEapTls(p.data);
    if (!t.ok) return this.fail(`malformed EAP-TLS: ${formatDecodeError(t.error)}`);
    const tlsData = t.value;

    // Peer acknowledges one of our fragments.
    if (this.frag.pending) {
      if (tlsData.data.length !== 0 || tlsData.more) return this.fail('expected an EAP-TLS fragment acknowledgement');
      return this.request(this.frag.next()!);
    }
    const r = this.reasm.add(tlsData);
    if (r.kind === 'error') return this.fail(`EAP-TLS reassembly: ${r.reason}`);
    if (r.kind === 'need-more') return this.request(Uint8Array.of(0)); // ack

    if (this.state === 'final') {
      if (r.data.length === 0) return this.succeed();
      // Data after our final flight: most likely an alert from the peer.
      await this.feed(r.data);
      return this.fail(`peer sent TLS data after the handshake${this.tlsError ? `: ${this.tlsError.message}` : ''}`);
    }
    if (this.state === 'start') {
      if (r.data.length === 0) return this.fail('empty EAP-TLS response to Start');
      this.state = 'handshake';
      this.wire = new TlsWire();
      this.srv.attach(this.wire, {
        onSecure: (s) => {
          this.secureSock = s;
          this.wire!.activity++;
        },
        onError: (e) => {
          this.tlsError = e;
          this.wire!.activity++;
        },
      });
    }
    if (r.data.length === 0) return this.fail('empty EAP-TLS response during the handshake');
    const out = await this.feed(r.data);
    if (this.tlsError) return this.fail(`TLS handshake failed: ${this.tlsError.message.split('\n')[0]}`);
    if (this.secureSock) {
      const sock = this.secureSock;
      const reject = this.authorize(sock);
      if (reject) return this.fail(reject);
      this.keys = deriveEapTlsKeys(sock, this.clientHello.random, this.serverHello.random);
      let flight = out;
      if (this.keys.tlsVersion === 'TLSv1.3') {
        // RFC 9190 2.5: protected success indication, one octet of application data 0x00.
        sock.write(Buffer.of(0));
        await this.wire!.settle();
        flight = concat(out, this.wire!.take());
      }
      this.state = 'final';
      this.srv.log('debug', 'EAP-TLS handshake complete', { peer: this.peer, identity: this.identity, tls: this.keys.tlsVersion });
      if (flight.length === 0) return this.succeed();
      return this.request(this.frag.load(flight));
    }
    if (out.length === 0) return this.fail('TLS engine produced no output');
    return this.request(this.frag.load(out));
  }

  private async feed(data: Uint8Array): Promise<Uint8Array> {
    const wire = this.wire!;
    this.clientHello.feed(data);
    wire.push(data);
    await wire.settle();
    const out = wire.take();
    this.serverHello.feed(out);
    return out;
  }

  private authorize(sock: tls.TLSSocket): string | undefined {
    const cert = sock.getPeerCertificate();
    if (!cert || Object.keys(cert).length === 0) return 'client sent no certificate';
    if (!sock.authorized) {
      const code = String(sock.authorizationError ?? 'unknown');
      return `client certificate rejected: ${code}${describe(code)}`;
    }
    return checkIdentityPolicy(this.srv.config.identityPolicy, cert, this.identity);
  }

  private succeed(): BackendStep {
    const keys = this.keys;
    if (!keys) return this.fail('no keys');
    this.state = 'done';
    this.srv.log('info', 'EAP-TLS authentication succeeded', { peer: this.peer, identity: this.identity, tls: keys.tlsVersion });
    const eap = encodeEap({ code: EapCode.Success, id: this.lastId });
    this.close();
    return { kind: 'success', eap, keys: { msk: keys.msk, emsk: keys.emsk, sessionId: keys.sessionId }, identity: this.identity };
  }

  /** The last request sent (for diagnostics). */
  get lastRequestPacket(): Uint8Array | undefined {
    return this.lastRequest;
  }

  get tlsVersion(): string | undefined {
    return this.keys?.tlsVersion;
  }

  close(): void {
    if (this.wire) {
      this.srv.detach(this.wire);
      this.secureSock?.destroy();
      this.wire.destroy();
      this.wire = undefined;
    }
    this.frag.clear();
    this.reasm.reset();
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  if (b.length === 0) return a;
  return Buffer.concat([a, b]);
}

function describe(code: string): string {
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return ' (certificate expired)';
    case 'CERT_NOT_YET_VALID':
      return ' (certificate not yet valid)';
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
      return ' (not issued by the configured CA)';
    case 'CERT_REVOKED':
      return ' (revoked)';
    default:
      return '';
  }
}
