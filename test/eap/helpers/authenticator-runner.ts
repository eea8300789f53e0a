/**
 * Runs our Authenticator PAE + embedded EAP-TLS server on an interface (inside a netns). Prints
 * one JSON line per authorization/unauthorization; secrets only as SHA-256 digests, except the
 * CAK which is printed as a digest and compared by the test.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { AuthenticatorPort, type AuthorizedEvent, type UnauthorizedEvent } from '../../../src/eap/port.js';
import { EapTlsServer } from '../../../src/eap/eaptls-server.js';
import { fromHex, toHex } from '../../../src/common/hex.js';
import { openEapolIo } from './eapol-io.js';
import { RadiusBackend } from '../../../src/eap/radius-backend.js';

const args = JSON.parse(process.argv[2]!) as {
  iface: string;
  mac: string;
  ca: string;
  cert: string;
  key: string;
  maxVersion?: 'TLSv1.2' | 'TLSv1.3';
  subjectCn?: string[];
  timeoutMs?: number;
  radius?: { host: string; port: number; secret: string };
};
const digest = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const logs: string[] = [];
const logger = (l: string, m: string, f?: Record<string, unknown>) => logs.push(`${l} ${m} ${JSON.stringify(f ?? {})}`);
const backend = args.radius
  ? new RadiusBackend({ servers: [args.radius], timeoutMs: 2000, attempts: 2, logger })
  : new EapTlsServer({
      ca: readFileSync(args.ca),
      cert: readFileSync(args.cert),
      key: readFileSync(args.key),
      ...(args.maxVersion ? { maxVersion: args.maxVersion } : {}),
      ...(args.subjectCn ? { identityPolicy: { subjectCn: args.subjectCn } } : {}),
      logger: (l, m, f) => logs.push(`${l} ${m} ${JSON.stringify(f ?? {})}`),
    });
let port!: AuthenticatorPort;
const io = openEapolIo(args.iface, (f) => port.receive(f));
port = new AuthenticatorPort({
  portMac: fromHex(args.mac),
  backend,
  send: (f) => io.send(f),
  eapolVersion: 2,
  logger: (l, m, f) => logs.push(`${l} ${m} ${JSON.stringify(f ?? {})}`),
});
const finish = (r: object) => {
  process.stdout.write(`${JSON.stringify({ ...r, logs })}\n`);
  port.stop();
  io.close();
  void backend.close?.();
  process.exit(0);
};
port.on('authorized', (a: AuthorizedEvent) =>
  finish({ ok: true, peer: toHex(a.peer), mskSha256: digest(a.msk), cakSha256: digest(a.cak), ckn: toHex(a.ckn), sessionId: toHex(a.sessionId) }),
);
port.on('unauthorized', (u: UnauthorizedEvent) => finish({ ok: false, reason: u.reason }));
setTimeout(() => finish({ ok: false, reason: 'timeout' }), args.timeoutMs ?? 20000);
port.start();
process.stdout.write('READY\n');
