/**
 * Runs our Supplicant PAE + EAP-TLS peer on an interface (inside a netns: `ip netns exec ns node
 * --import tsx supplicant-runner.ts <json>`). Prints one JSON line: the result, with secrets only
 * as SHA-256 digests.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SupplicantPort, type AuthenticatedEvent } from '../../../src/eap/port.js';
import { EapTlsPeer } from '../../../src/eap/eaptls-peer.js';
import { fromHex, toHex } from '../../../src/common/hex.js';
import { openEapolIo } from './eapol-io.js';

const args = JSON.parse(process.argv[2]!) as {
  iface: string;
  mac: string;
  identity: string;
  ca: string;
  cert: string;
  key: string;
  maxVersion?: 'TLSv1.2' | 'TLSv1.3';
  timeoutMs?: number;
};
const digest = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const logs: string[] = [];
let port!: SupplicantPort;
const io = openEapolIo(args.iface, (f) => port.receive(f));
port = new SupplicantPort({
  ownMac: fromHex(args.mac),
  identity: args.identity,
  startPeriodMs: 1000,
  send: (f) => io.send(f),
  logger: (l, m, f) => logs.push(`${l} ${m} ${JSON.stringify(f ?? {})}`),
  method: () =>
    new EapTlsPeer({
      identity: args.identity,
      ca: readFileSync(args.ca),
      cert: readFileSync(args.cert),
      key: readFileSync(args.key),
      ...(args.maxVersion ? { maxVersion: args.maxVersion } : {}),
    }),
});
const finish = (r: object) => {
  process.stdout.write(`${JSON.stringify({ ...r, logs })}\n`);
  port.stop();
  io.close();
  process.exit(0);
};
port.on('authenticated', (a: AuthenticatedEvent) =>
  finish({
    ok: true,
    authenticator: toHex(a.authenticator),
    mskSha256: digest(a.msk),
    cakSha256: digest(a.cak),
    ckn: toHex(a.ckn),
    sessionId: toHex(a.sessionId),
  }),
);
port.on('unauthenticated', (u: { reason: string }) => finish({ ok: false, reason: u.reason }));
setTimeout(() => finish({ ok: false, reason: 'timeout' }), args.timeoutMs ?? 20000);
port.start();
