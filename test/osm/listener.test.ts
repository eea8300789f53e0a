/**
 * The EE's port against clients that never finish connecting: a TLS record byte and then silence,
 * a completed mutual-TLS handshake without the HTTP/2 preface, a plaintext "P" and then silence,
 * and more connections than the adapter admits. Each is closed by the adapter; real LCM clients
 * still work afterwards.
 */
import { credentials } from '@grpc/grpc-js';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eeClient, runPrimitive } from '../support/osm/ee-client.js';
import { setup, type Env } from '../support/osm/fixture.js';

let env: Env;
beforeAll(async () => {
  env = await setup();
});
afterAll(async () => env?.close());

const lcmCreds = () => credentials.createSsl(Buffer.from(env.pki.osmCa.certPem), Buffer.from(env.pki.lcmClient.keyPem), Buffer.from(env.pki.lcmClient.certPem));

/** Opens a TCP connection, optionally writes `first`, and resolves with how long until the server closed it. */
function silentSocket(port: number, first?: Buffer): { sock: Socket; closedAfter: Promise<number> } {
  const started = Date.now();
  const sock = netConnect(port, '127.0.0.1', () => {
    if (first) sock.write(first);
  });
  sock.on('error', () => {});
  sock.on('data', () => {});
  const closedAfter = new Promise<number>((resolve) => sock.once('close', () => resolve(Date.now() - started)));
  return { sock, closedAfter };
}

const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), ms).unref())]);

describe('connection limits on the EE port', () => {
  it('a 0x16-then-silent connection is closed after the handshake timeout', async () => {
    const ee = await env.startEe({ handshakeTimeoutMs: 400 });
    const socks = [0, 1, 2].map(() => silentSocket(ee.port, Buffer.from([0x16])));
    for (const s of socks) {
      const t = await within(s.closedAfter, 3000);
      expect(t, 'the silent TLS connection was not closed').not.toBe('still open');
      expect(t as number).toBeGreaterThanOrEqual(300);
    }
    // A connection that sends nothing at all is closed by the same deadline.
    const mute = silentSocket(ee.port);
    expect(await within(mute.closedAfter, 3000)).not.toBe('still open');
    // LCM still gets through.
    expect((await runPrimitive(eeClient(ee.port, lcmCreds()), 'health-check', '')).last!.status).toBe('OK');
  });

  it('a completed mutual-TLS handshake without the HTTP/2 preface is closed after the timeout', async () => {
    const ee = await env.startEe({ handshakeTimeoutMs: 400 });
    const started = Date.now();
    const c = tlsConnect({
      port: ee.port,
      host: '127.0.0.1',
      servername: 'localhost',
      ca: env.pki.osmCa.certPem,
      cert: env.pki.lcmClient.certPem,
      key: env.pki.lcmClient.keyPem,
      ALPNProtocols: ['h2'],
      checkServerIdentity: () => undefined,
    });
    c.on('error', () => {});
    c.on('data', () => {});
    const closed = new Promise<number>((resolve) => c.once('close', () => resolve(Date.now() - started)));
    const secured = await new Promise<boolean>((resolve) => {
      c.once('secureConnect', () => resolve(true));
      c.once('close', () => resolve(false));
    });
    expect(secured).toBe(true);
    const t = await within(closed, 3000);
    expect(t, 'a TLS connection without an HTTP/2 preface stayed open').not.toBe('still open');
  });

  it('a plaintext connection that stops after "P" is closed after the timeout (plaintext allowed)', async () => {
    const ee = await env.startEe({ mtls: false, allowPlaintext: true, handshakeTimeoutMs: 400 });
    const s = silentSocket(ee.port, Buffer.from('P'));
    expect(await within(s.closedAfter, 3000)).not.toBe('still open');
    expect((await runPrimitive(eeClient(ee.port), 'health-check', '')).last!.status).toBe('OK');
  });

  it('caps concurrent connections, and unfinished ones per client address', async () => {
    const ee = await env.startEe({ handshakeTimeoutMs: 5000, maxConnections: 3, maxPendingPerAddress: 10 });
    const held = [0, 1, 2].map(() => silentSocket(ee.port, Buffer.from([0x16])));
    await new Promise((r) => setTimeout(r, 200));
    const extra = silentSocket(ee.port, Buffer.from([0x16]));
    const t = await within(extra.closedAfter, 1500);
    expect(t, 'a fourth connection was admitted with maxConnections 3').not.toBe('still open');
    for (const h of held) expect(h.sock.destroyed).toBe(false);
    for (const h of held) h.sock.destroy();
    await Promise.all(held.map((h) => h.closedAfter));
    await new Promise((r) => setTimeout(r, 100));
    expect((await runPrimitive(eeClient(ee.port, lcmCreds()), 'health-check', '')).last!.status).toBe('OK');

    const perAddr = await env.startEe({ handshakeTimeoutMs: 5000, maxConnections: 50, maxPendingPerAddress: 2 });
    const two = [0, 1].map(() => silentSocket(perAddr.port, Buffer.from([0x16])));
    await new Promise((r) => setTimeout(r, 200));
    const third = silentSocket(perAddr.port, Buffer.from([0x16]));
    expect(await within(third.closedAfter, 1500), 'a third unfinished connection from one address was admitted').not.toBe('still open');
    for (const h of two) h.sock.destroy();
  });
});
