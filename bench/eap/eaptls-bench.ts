/**
 * Embedded EAP-TLS authentications per second on one core, ECDSA P-256 certificates.
 * Each authentication is a full exchange (Identity, EAP-TLS with fragmentation, Success) between
 * our EAP-TLS server session and our EAP-TLS peer in the same process, so the figure includes both
 * sides' TLS work: a conservative measure of the server alone.
 *   npm run bench:eap [-- seconds]
 */
import { EapTlsServer } from '../../src/eap/eaptls-server.js';
import { EapTlsPeer } from '../../src/eap/eaptls-peer.js';
import { EapCode, encodeEap, encodeIdentityResponse } from '../../src/eap/eap.js';
import { makeTestPki } from '../../test/support/pki.js';

const seconds = Number(process.argv[2] ?? 4);
const pki = makeTestPki();
const sup = Uint8Array.of(2, 0, 0, 0, 0, 2);
const auth = Uint8Array.of(2, 0, 0, 0, 0, 1);

async function once(server: EapTlsServer, version: 'TLSv1.2' | 'TLSv1.3'): Promise<void> {
  const session = server.createSession({ supplicantMac: sup, authenticatorMac: auth });
  const peer = new EapTlsPeer({ identity: 'client1.vnf.example', ca: pki.ca.cert, cert: pki.client.cert, key: pki.client.key, maxVersion: version });
  let step = await session.handle(encodeIdentityResponse(1, 'client1.vnf.example'));
  for (;;) {
    if (step.kind === 'request') {
      const r = await peer.handle(step.eap);
      if (r.kind !== 'response') throw new Error(`peer: ${r.kind}`);
      step = await session.handle(r.eap);
      continue;
    }
    if (step.kind !== 'success') throw new Error(`server: ${step.kind} ${'reason' in step ? step.reason : ''}`);
    const r = await peer.handle(step.eap ?? encodeEap({ code: EapCode.Failure, id: 0 }));
    if (r.kind !== 'success') throw new Error(`peer final: ${r.kind}`);
    return;
  }
}

async function measure(version: 'TLSv1.2' | 'TLSv1.3', concurrency: number): Promise<number> {
  const server = new EapTlsServer({ ca: pki.ca.cert, cert: pki.server.cert, key: pki.server.key, maxVersion: version });
  for (let i = 0; i < 20; i++) await once(server, version); // warm-up
  let done = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        await once(server, version);
        done++;
      }
    }),
  );
  return done / ((performance.now() - t0) / 1000);
}

const cpu0 = process.cpuUsage();
const wall0 = performance.now();
console.log(`EAP-TLS embedded server benchmark (ECDSA P-256, server + peer in one Node ${process.version} process, ${seconds}s per case)`);
for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
  for (const concurrency of [1, 8]) {
    const rate = await measure(version, concurrency);
    console.log(`  ${version}  concurrency ${concurrency}: ${rate.toFixed(0)} authentications/s ${rate >= 150 ? '(>= 150 target)' : '(BELOW 150 target)'}`);
  }
}
const cpu = process.cpuUsage(cpu0);
console.log(`  CPU use: ${(((cpu.user + cpu.system) / 1000 / (performance.now() - wall0)) * 100).toFixed(0)}% of one core (single JS thread)`);
