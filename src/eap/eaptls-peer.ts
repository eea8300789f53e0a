/**
 * EAP-TLS peer (supplicant role, RFC 5216 / RFC 9190) on Node's TLS engine over an in-memory stream.
 * Handles EAP-Request/EAP-TLS, EAP-Success and EAP-Failure; Identity is answered by the PAE.
 */
import * as tls from 'node:tls';
import { type EapLogger, nullLogger, formatDecodeError } from './decode.js';
import { EapCode, EapType, decodeEap, decodeEapTls, encodeEap, encodeNak, type EapPacket } from './eap.js';
import type { EapKeys } from './backend.js';
import { DEFAULT_FRAGMENT_SIZE, HelloRandomSniffer, TlsFragmenter, TlsReassembler } from './tls-frag.js';
import { deriveEapTlsKeys, type EapTlsKeyMaterial } from './tls-keys.js';
import { TlsWire } from './tls-wire.js';

export interface EapTlsPeerConfig {
  /** EAP identity sent in Response/Identity. */
  readonly identity: string;
  /** CA certificate(s) (PEM) that must have issued the server certificate. */
  readonly ca: string | Buffer | (string | Buffer)[];
  /** Client certificate chain (PEM). */
  readonly cert: string | Buffer;
  /** Client private key (PEM). Secret. */
  readonly key: string | Buffer;
  readonly minVersion?: 'TLSv1.2' | 'TLSv1.3';
  readonly maxVersion?: 'TLSv1.2' | 'TLSv1.3';
  readonly fragmentSize?: number;
  /** If set, the server certificate must match this host name (CN/SAN, Node's checkServerIdentity). */
  readonly serverName?: string;
  readonly logger?: EapLogger;
}

/** Result of handing one EAP packet (Request, Success or Failure) to the peer method. */
export type PeerStep =
  | { readonly kind: 'response'; readonly eap: Uint8Array }
  | { readonly kind: 'success'; readonly keys: EapKeys; readonly tlsVersion: string }
  | { readonly kind: 'failure'; readonly reason: string }
  | { readonly kind: 'discard'; readonly reason: string };

/** One EAP method instance; a new one is needed for every authentication. */
export interface EapPeerMethod {
  handle(eap: Uint8Array): Promise<PeerStep>;
  close(): void;
}

export class EapTlsPeer implements EapPeerMethod {
  private readonly log: EapLogger;
  private readonly frag: TlsFragmenter;
  private readonly reasm = new TlsReassembler();
  private readonly clientHello = new HelloRandomSniffer();
  private readonly serverHello = new HelloRandomSniffer();
  private wire: TlsWire | undefined;
  private sock: tls.TLSSocket | undefined;
  private handshakeDone = false;
  private commitment = false;
  private tlsError: Error | undefined;
  private keys: EapTlsKeyMaterial | undefined;
  private lastReqId = -1;
  private lastReq: Uint8Array | undefined;
  private lastResp: Uint8Array | undefined;
  private finished = false;

  constructor(readonly config: EapTlsPeerConfig) {
    this.log = config.logger ?? nullLogger;
    this.frag = new TlsFragmenter(config.fragmentSize ?? DEFAULT_FRAGMENT_SIZE);
  }

  async handle(buf: Uint8Array): Promise<PeerStep> {
    try {
      return await this.step(buf);
    } catch (e) {
      return this.failure(`internal error: ${(e as Error).message}`);
    }
  }

  get tlsVersion(): string | undefined {
    return this.keys?.tlsVersion;
  }

  private failure(reason: string): PeerStep {
    this.finished = true;
    this.close();
    return { kind: 'failure', reason };
  }

  private respond(id: number, typeData: Uint8Array, req: Uint8Array): PeerStep {
    const eap = encodeEap({ code: EapCode.Response, id, type: EapType.Tls, data: typeData });
    this.lastReqId = id;
    this.lastReq = Uint8Array.from(req);
    this.lastResp = eap;
    return { kind: 'response', eap };
  }

  private async step(buf: Uint8Array): Promise<PeerStep> {
    const d = decodeEap(buf);
    if (!d.ok) return { kind: 'discard', reason: `malformed EAP: ${formatDecodeError(d.error)}` };
    const p = d.value;
    if (this.finished) return { kind: 'discard', reason: 'method finished' };
    if (p.code === EapCode.Success) return this.onSuccess();
    if (p.code === EapCode.Failure) {
      return this.failure(`EAP-Failure from the authenticator${this.tlsError ? ` (local TLS error: ${firstLine(this.tlsError)})` : ''}`);
    }
    if (p.code !== EapCode.Request) return { kind: 'discard', reason: 'not a request' };
    // Retransmitted request: repeat our last response without re-running the method.
    if (p.id === this.lastReqId && this.lastReq && this.lastResp && Buffer.compare(this.lastReq, buf.subarray(0, this.lastReq.length)) === 0) {
      return { kind: 'response', eap: this.lastResp };
    }
    if (p.type !== EapType.Tls) {
      if (p.type === EapType.Identity || p.type === EapType.Notification) return { kind: 'discard', reason: 'handled by the PAE' };
      this.log('info', 'EAP method proposed by the server is not supported, answering Nak(TLS)', { type: p.type });
      const eap = encodeNak(p.id, [EapType.Tls]);
      this.lastReqId = p.id;
      this.lastReq = Uint8Array.from(buf);
      this.lastResp = eap;
      return { kind: 'response', eap };
    }
    return this.onTls(p, buf);
  }

  private async onTls(p: EapPacket, raw: Uint8Array): Promise<PeerStep> {
    const t = decodeEapTls(p.data);
    if (!t.ok) return this.failure(`malformed EAP-TLS request: ${formatDecodeError(t.error)}`);
    const td = t.value;
    if (td.start) {
      if (this.sock) return { kind: 'discard', reason: 'duplicate EAP-TLS Start' };
      this.startTls();
      await this.wire!.settle();
      const hello = this.wire!.take();
      this.clientHello.feed(hello);
      if (this.tlsError) return this.failure(`TLS client failed to start: ${firstLine(this.tlsError)}`);
      return this.respond(p.id, this.frag.load(hello), raw);
    }
    if (!this.sock) return this.failure('EAP-TLS request before Start');
    if (this.frag.pending) {
      if (td.data.length !== 0) return this.failure('expected an EAP-TLS fragment acknowledgement');
      return this.respond(p.id, this.frag.next()!, raw);
    }
    const r = this.reasm.add(td);
    if (r.kind === 'error') return this.failure(`EAP-TLS reassembly: ${r.reason}`);
    if (r.kind === 'need-more') return this.respond(p.id, Uint8Array.of(0), raw);
    if (r.data.length === 0) return this.respond(p.id, Uint8Array.of(0), raw);
    this.serverHello.feed(r.data);
    this.wire!.push(r.data);
    await this.wire!.settle();
    const out = this.wire!.take();
    if (this.handshakeDone && !this.keys && !this.tlsError) {
      try {
        this.keys = deriveEapTlsKeys(this.sock, this.clientHello.random, this.serverHello.random);
      } catch (e) {
        return this.failure(`key derivation failed: ${(e as Error).message}`);
      }
    }
    if (this.tlsError) {
      this.log('warn', 'EAP-TLS peer: TLS error', { reason: firstLine(this.tlsError) });
      // Send our alert (if any) so the server learns why, then expect EAP-Failure.
      return this.respond(p.id, out.length ? this.frag.load(out) : Uint8Array.of(0), raw);
    }
    return this.respond(p.id, out.length ? this.frag.load(out) : Uint8Array.of(0), raw);
  }

  private startTls(): void {
    const wire = new TlsWire();
    this.wire = wire;
    const cfg = this.config;
    const sock = tls.connect({
      socket: wire.inner,
      ca: cfg.ca,
      cert: cfg.cert,
      key: cfg.key,
      minVersion: cfg.minVersion ?? 'TLSv1.2',
      maxVersion: cfg.maxVersion ?? 'TLSv1.3',
      rejectUnauthorized: true,
      checkServerIdentity: (host, cert) => (cfg.serverName ? tls.checkServerIdentity(cfg.serverName, cert) : undefined),
      ...(cfg.serverName ? { servername: cfg.serverName } : {}),
    });
    this.sock = sock;
    sock.on('secureConnect', () => {
      this.handshakeDone = true;
      wire.activity++;
    });
    sock.on('data', (d: Buffer) => {
      // RFC 9190 2.5: a single 0x00 octet of application data is the protected success indication.
      if (d.length >= 1 && d[0] === 0) this.commitment = true;
      wire.activity++;
    });
    sock.on('error', (e: Error) => {
      if (!this.tlsError) this.tlsError = e;
      wire.activity++;
    });
  }

  private onSuccess(): PeerStep {
    if (this.tlsError) return this.failure(`EAP-Success after a local TLS error: ${firstLine(this.tlsError)}`);
    if (!this.handshakeDone || !this.keys) return this.failure('EAP-Success before the TLS handshake completed');
    if (this.keys.tlsVersion === 'TLSv1.3' && !this.commitment) {
      return this.failure('EAP-Success without the TLS 1.3 protected success indication');
    }
    const k = this.keys;
    this.finished = true;
    this.close();
    return { kind: 'success', keys: { msk: k.msk, emsk: k.emsk, sessionId: k.sessionId }, tlsVersion: k.tlsVersion };
  }

  close(): void {
    this.sock?.destroy();
    this.sock = undefined;
    this.wire?.destroy();
    this.wire = undefined;
    this.frag.clear();
    this.reasm.reset();
  }
}

function firstLine(e: Error): string {
  return e.message.split('\n')[0]!;
}
