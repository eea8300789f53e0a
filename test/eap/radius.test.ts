import { describe, expect, it } from 'vitest';
import * as dgram from 'node:dgram';
import { createHash, randomBytes } from 'node:crypto';
import {
  Attr,
  RadiusCode,
  decodeRadius,
  decryptMppeKey,
  eapMessageAttributes,
  encodeRadius,
  encryptMppeKey,
  joinEapMessage,
  signMessageAuthenticator,
  signResponse,
  verifyMessageAuthenticator,
  verifyResponseAuthenticator,
} from '../../src/eap/radius.js';
import { RadiusClient } from '../../src/eap/radius-client.js';
import type { EapLogger } from '../../src/eap/decode.js';

describe('RADIUS codec and crypto', () => {
  it('EAP-Message fragmentation into 253-octet attributes and back', () => {
    const eap = randomBytes(1000);
    const attrs = eapMessageAttributes(eap);
    expect(attrs.map((a) => a.value.length)).toEqual([253, 253, 253, 241]);
    const pkt = encodeRadius({ code: RadiusCode.AccessRequest, id: 1, authenticator: new Uint8Array(16), attributes: attrs });
    const d = decodeRadius(pkt);
    expect(d.ok).toBe(true);
    if (d.ok) expect(Buffer.from(joinEapMessage(d.value)!).equals(eap)).toBe(true);
  });

  it('Message-Authenticator and Response Authenticator', () => {
    const reqAuth = randomBytes(16);
    const req = encodeRadius({
      code: RadiusCode.AccessRequest,
      id: 7,
      authenticator: reqAuth,
      attributes: [
        { type: Attr.UserName, value: Buffer.from('bob') },
        { type: Attr.MessageAuthenticator, value: new Uint8Array(16) },
      ],
    });
    signMessageAuthenticator(req, 's3cret');
    expect(verifyMessageAuthenticator(req, 's3cret')).toBe(true);
    expect(verifyMessageAuthenticator(req, 'wrong')).toBe(false);
    const reply = encodeRadius({
      code: RadiusCode.AccessAccept,
      id: 7,
      authenticator: new Uint8Array(16),
      attributes: [{ type: Attr.MessageAuthenticator, value: new Uint8Array(16) }],
    });
    signResponse(reply, reqAuth, 's3cret');
    expect(verifyResponseAuthenticator(reply, reqAuth, 's3cret')).toBe(true);
    expect(verifyMessageAuthenticator(reply, 's3cret', reqAuth)).toBe(true);
    // RFC 2865 definition by hand
    const manual = createHash('md5').update(reply.subarray(0, 4)).update(reqAuth).update(reply.subarray(20)).update('s3cret').digest();
    expect(Buffer.from(reply.subarray(4, 20)).equals(manual)).toBe(true);
    reply[reply.length - 1]! ^= 1;
    expect(verifyResponseAuthenticator(reply, reqAuth, 's3cret')).toBe(false);
  });

  it('MS-MPPE key encryption round trip; wrong secret detected', () => {
    const key = randomBytes(32);
    const reqAuth = randomBytes(16);
    const enc = encryptMppeKey(key, 'sec', reqAuth, Uint8Array.of(0x81, 0x23));
    expect(enc.length).toBe(2 + 48);
    const d = decryptMppeKey(enc, 'sec', reqAuth);
    expect(d.ok && Buffer.from(d.value).equals(key)).toBe(true);
    const bad = decryptMppeKey(enc, 'other', reqAuth);
    expect(bad.ok && Buffer.from(bad.value).equals(key)).toBe(false);
  });

  it('decoder names the bad field', () => {
    const pkt = encodeRadius({ code: 2, id: 1, authenticator: new Uint8Array(16), attributes: [{ type: 1, value: Buffer.from('x') }] });
    const trunc = Uint8Array.from(pkt);
    trunc[21] = 40;
    const d = decodeRadius(trunc);
    expect(!d.ok && d.error.field === 'radius.attribute[0].length').toBe(true);
    const d2 = decodeRadius(pkt.subarray(0, 10));
    expect(!d2.ok && d2.error.field === 'radius.header').toBe(true);
  });
});

describe('RADIUS client against a forging / silent server', () => {
  async function fakeServer(secret: string): Promise<{ port: number; close(): void; seen: number[] }> {
    const s = dgram.createSocket('udp4');
    const seen: number[] = [];
    s.on('message', (msg, rinfo) => {
      seen.push(msg[1]!);
      const reqAuth = msg.subarray(4, 20);
      const reply = encodeRadius({
        code: RadiusCode.AccessReject,
        id: msg[1]!,
        authenticator: new Uint8Array(16),
        attributes: [{ type: Attr.MessageAuthenticator, value: new Uint8Array(16) }],
      });
      signResponse(reply, reqAuth, secret);
      s.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
    return { port: s.address().port, close: () => s.close(), seen };
  }

  it('forged replies (other secret) are rejected with a clear error; retransmissions reuse the identifier', async () => {
    const srv = await fakeServer('forger');
    const lines: string[] = [];
    const logger: EapLogger = (l, m, f) => lines.push(`${l} ${m} ${JSON.stringify(f)}`);
    const c = new RadiusClient({ servers: [{ host: '127.0.0.1', port: srv.port, secret: 'real' }], timeoutMs: 150, attempts: 3, logger });
    const r = await c.exchange([{ type: Attr.UserName, value: Buffer.from('x') }]);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(/Response Authenticator mismatch/);
    expect(srv.seen.length).toBe(3);
    expect(new Set(srv.seen).size).toBe(1);
    expect(lines.join('\n')).not.toContain('real"');
    await c.close();
    srv.close();
  });

  it('valid reply accepted', async () => {
    const srv = await fakeServer('real');
    const c = new RadiusClient({ servers: [{ host: '127.0.0.1', port: srv.port, secret: 'real' }], timeoutMs: 500 });
    const r = await c.exchange([{ type: Attr.UserName, value: Buffer.from('x') }]);
    expect(r.ok && r.reply.code === RadiusCode.AccessReject).toBe(true);
    await c.close();
    srv.close();
  });
});
