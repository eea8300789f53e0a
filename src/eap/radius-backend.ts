/**
 * EAP backend relaying to RADIUS servers (RFC 3579): EAP-Message fragmentation, State,
 * MS-MPPE-Recv-Key | MS-MPPE-Send-Key -> MSK, EAP-Key-Name (102) -> EAP Session-Id.
 */
import type { BackendStep, EapBackend, EapBackendContext, EapBackendSession } from './backend.js';
import { type EapLogger, nullLogger, formatDecodeError } from './decode.js';
import { EapCode, EapType, decodeEap, eapIdentityText } from './eap.js';
import { RadiusClient, type RadiusClientConfig } from './radius-client.js';
import {
  Attr,
  MS_MPPE_RECV_KEY,
  MS_MPPE_SEND_KEY,
  NAS_PORT_TYPE_ETHERNET,
  type RadiusAttribute,
  RadiusCode,
  VENDOR_MICROSOFT,
  decryptMppeKey,
  eapMessageAttributes,
  findVendorAttribute,
  getAttribute,
  joinEapMessage,
  radiusCodeName,
} from './radius.js';

export interface RadiusBackendConfig extends RadiusClientConfig {
  /** NAS-Identifier (default "nfv-macsec"). */
  readonly nasIdentifier?: string;
  /** Framed-MTU sent to the server so that it sizes EAP-TLS fragments (default 1400). */
  readonly framedMtu?: number;
  /** Require EAP-Key-Name in Access-Accept (default true; without it no CKN can be derived). */
  readonly requireKeyName?: boolean;
}

const enc = new TextEncoder();

function stationId(mac: Uint8Array): Uint8Array {
  return enc.encode(Array.from(mac, (b) => b.toString(16).padStart(2, '0').toUpperCase()).join('-'));
}

function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0);
  return b;
}

export class RadiusBackend implements EapBackend {
  readonly name = 'radius';
  readonly client: RadiusClient;
  readonly log: EapLogger;

  constructor(readonly config: RadiusBackendConfig) {
    this.log = config.logger ?? nullLogger;
    this.client = new RadiusClient(config);
  }

  createSession(ctx: EapBackendContext): EapBackendSession {
    return new RadiusBackendSession(this, ctx);
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

class RadiusBackendSession implements EapBackendSession {
  private state: Uint8Array | undefined;
  private identity: string | undefined;
  private pinned: number | undefined;
  private closed = false;
  private lastResponseId = 0;

  constructor(
    private readonly be: RadiusBackend,
    private readonly ctx: EapBackendContext,
  ) {}

  private failure(reason: string, eap?: Uint8Array): BackendStep {
    this.be.log('warn', 'RADIUS authentication failed', { identity: this.identity, reason });
    this.close();
    return eap ? { kind: 'failure', eap, reason } : { kind: 'failure', reason };
  }

  async handle(eapResponse: Uint8Array): Promise<BackendStep> {
    if (this.closed) return { kind: 'discard', reason: 'session closed' };
    const d = decodeEap(eapResponse);
    if (!d.ok) return { kind: 'discard', reason: `malformed EAP: ${formatDecodeError(d.error)}` };
    if (d.value.code !== EapCode.Response) return { kind: 'discard', reason: 'not an EAP-Response' };
    if (d.value.type === EapType.Identity && this.identity === undefined) this.identity = eapIdentityText(d.value);
    this.lastResponseId = d.value.id;
    const cfg = this.be.config;
    const attrs: RadiusAttribute[] = [];
    if (this.identity !== undefined) attrs.push({ type: Attr.UserName, value: enc.encode(this.identity).subarray(0, 253) });
    attrs.push({ type: Attr.NasIdentifier, value: enc.encode(cfg.nasIdentifier ?? 'nfv-macsec') });
    attrs.push({ type: Attr.CalledStationId, value: stationId(this.ctx.authenticatorMac) });
    attrs.push({ type: Attr.CallingStationId, value: stationId(this.ctx.supplicantMac) });
    if (this.ctx.portName) attrs.push({ type: Attr.NasPortId, value: enc.encode(this.ctx.portName).subarray(0, 253) });
    attrs.push({ type: Attr.NasPortType, value: u32(NAS_PORT_TYPE_ETHERNET) });
    attrs.push({ type: Attr.ServiceType, value: u32(2) }); // Framed
    attrs.push({ type: Attr.FramedMtu, value: u32(cfg.framedMtu ?? 1400) });
    attrs.push(...eapMessageAttributes(eapResponse));
    if (this.state) attrs.push({ type: Attr.State, value: this.state });
    const res = await this.be.client.exchange(attrs, this.pinned);
    if (this.closed) return { kind: 'discard', reason: 'session closed' };
    if (!res.ok) return this.failure(`RADIUS: ${res.error}`);
    this.pinned = res.serverIndex;
    const reply = res.reply;
    const eap = joinEapMessage(reply);
    switch (reply.code) {
      case RadiusCode.AccessChallenge: {
        if (!eap) return this.failure('RADIUS Access-Challenge without EAP-Message');
        const e = decodeEap(eap);
        if (!e.ok || e.value.code !== EapCode.Request) {
          return this.failure(`RADIUS Access-Challenge carries an invalid EAP-Request${e.ok ? '' : `: ${formatDecodeError(e.error)}`}`);
        }
        const st = getAttribute(reply, Attr.State);
        this.state = st ? Uint8Array.from(st) : undefined;
        return { kind: 'request', eap };
      }
      case RadiusCode.AccessReject: {
        const msg = getAttribute(reply, Attr.ReplyMessage);
        return this.failure(`RADIUS Access-Reject${msg ? `: ${Buffer.from(msg).toString('utf8')}` : ''}`, eap);
      }
      case RadiusCode.AccessAccept: {
        const recv = findVendorAttribute(reply, VENDOR_MICROSOFT, MS_MPPE_RECV_KEY);
        const send = findVendorAttribute(reply, VENDOR_MICROSOFT, MS_MPPE_SEND_KEY);
        if (!recv || !send) return this.failure('RADIUS Access-Accept without MS-MPPE-Recv-Key/Send-Key');
        const r = decryptMppeKey(recv, res.secret, res.requestAuthenticator);
        const s = decryptMppeKey(send, res.secret, res.requestAuthenticator);
        if (!r.ok) return this.failure(`cannot decrypt MS-MPPE-Recv-Key: ${formatDecodeError(r.error)}`);
        if (!s.ok) return this.failure(`cannot decrypt MS-MPPE-Send-Key: ${formatDecodeError(s.error)}`);
        // hostapd/FreeRADIUS convention: MSK = MS-MPPE-Recv-Key | MS-MPPE-Send-Key (RFC 5216 2.3: MSK[0..31] | MSK[32..63]).
        const msk = new Uint8Array(r.value.length + s.value.length);
        msk.set(r.value, 0);
        msk.set(s.value, r.value.length);
        r.value.fill(0);
        s.value.fill(0);
        if (msk.length < 16) return this.failure('MSK from MS-MPPE keys is shorter than 16 octets');
        const keyName = getAttribute(reply, Attr.EapKeyName);
        if (!keyName && (this.be.config.requireKeyName ?? true)) {
          return this.failure('RADIUS Access-Accept without EAP-Key-Name (attribute 102): the server must return the EAP Session-Id');
        }
        const successEap = eap ?? new Uint8Array([EapCode.Success, this.lastResponseId, 0, 4]);
        const e = decodeEap(successEap);
        if (!e.ok || e.value.code !== EapCode.Success) return this.failure('RADIUS Access-Accept carries no EAP-Success');
        this.be.log('info', 'RADIUS authentication succeeded', { identity: this.identity });
        this.close();
        return {
          kind: 'success',
          eap: successEap,
          keys: { msk, sessionId: Uint8Array.from(keyName ?? new Uint8Array(0)) },
          ...(this.identity !== undefined ? { identity: this.identity } : {}),
        };
      }
      default:
        return this.failure(`unexpected RADIUS reply ${radiusCodeName(reply.code)}`);
    }
  }

  close(): void {
    this.closed = true;
  }
}
