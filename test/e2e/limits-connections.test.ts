/**
 * Connection limits on the manager: a connection must finish its TLS handshake and start HTTP/2
 * within the handshake timeout, a flood of half-open handshakes cannot lock agents and operators
 * out (not even under a small fd limit), and one certificate cannot hold more than its share of
 * connections.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { ManagerApi } from '../../src/control/client.js';
import { clientCredentials, serverCredentials } from '../../src/control/tls.js';
import { silentLogger } from '../../src/common/log.js';
import { Manager } from '../../src/manager/manager.js';
import { SqliteStore } from '../../src/manager/store/sqlite.js';
import { startManagerServer, type ManagerServer, type ManagerServerOptions } from '../../src/manager/server.js';
import type { Agent } from '../../src/agent/managed/agent.js';
import { PortMode } from '../../src/control/gen/macsec/v1/types.js';
import { ROOT, makePki, operator, rpcError, simAgent, waitFor, type TestPki } from '../support/harness.js';

const closed = (s: Socket) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())));

describe('manager connection limits', () => {
  let pki: TestPki;
  beforeAll(() => {
    pki = makePki();
  });
  afterAll(() => pki.cleanup());

  async function inProcess(opts: ManagerServerOptions): Promise<{ srv: ManagerServer; manager: Manager; stop(): void }> {
    const store = new SqliteStore(':memory:');
    const manager = new Manager(store, { id: 'mgr', ackTimeoutMs: 5000 });
    const srv = await startManagerServer(manager, serverCredentials(pki.material('mgr')), '127.0.0.1:0', silentLogger, opts);
    return {
      srv,
      manager,
      stop: () => {
        srv.forceShutdown();
        store.close();
      },
    };
  }

  it('drops connections that do not finish the TLS handshake and start HTTP/2 within the handshake timeout', { timeout: 30_000 }, async () => {
    const m = await inProcess({ handshakeTimeoutMs: 800 });
    try {
      // Silent TCP connection; a TLS record header that promises a ClientHello never sent; a
      // client that completes mTLS (valid certificate) but never sends the HTTP/2 preface.
      const silent = netConnect(m.srv.port, '127.0.0.1');
      const partial = netConnect(m.srv.port, '127.0.0.1', () => partial.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01])));
      const mat = pki.material('bob');
      const tlsIdle = tlsConnect({
        port: m.srv.port,
        host: '127.0.0.1',
        servername: 'localhost',
        ca: mat.ca,
        cert: mat.cert,
        key: mat.key,
        ALPNProtocols: ['h2'],
      });
      const secured = new Promise<void>((resolve) => tlsIdle.once('secureConnect', () => resolve()));
      for (const s of [silent, partial, tlsIdle]) s.on('error', () => {});
      await secured;
      // Today these are held for Node's 120 s TLS default (and forever once TLS is done).
      await Promise.all([closed(silent), closed(partial), closed(tlsIdle)]);
      // Regular clients are not affected.
      const api = operator(pki, 'alice', m.srv.port);
      expect((await api.listAgents()).agents).toEqual([]);
      api.close();
    } finally {
      m.stop();
    }
  });

  it('caps connections per certificate identity', { timeout: 60_000 }, async () => {
    const m = await inProcess({ maxConnectionsPerPrincipal: 3 });
    // Separate channels that do not share subchannels: one TCP connection each.
    const mk = (name: string) =>
      new ManagerApi(`127.0.0.1:${m.srv.port}`, clientCredentials(pki.material(name), 'manager'), 5000, { 'grpc.use_local_subchannel_pool': 1 });
    const bobs = [mk('bob'), mk('bob'), mk('bob'), mk('bob')];
    const alice = mk('alice');
    try {
      for (const b of bobs.slice(0, 3)) await b.listAgents();
      const e = await rpcError(bobs[3]!.listAgents());
      expect(e.code).toBe(status.UNAVAILABLE);
      // Another identity is not affected, and a closed connection frees its slot.
      await alice.listAgents();
      bobs[0]!.close();
      await waitFor(async () => {
        await bobs[3]!.listAgents();
        return true;
      }, 'slot freed');
    } finally {
      for (const b of bobs) b.close();
      alice.close();
      m.stop();
    }
  });

  it('keeps serving agents and operators through a flood of half-open handshakes under a 256 fd limit', { timeout: 120_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'macsec-flood-'));
    const f = pki.files('mgr');
    const proc = spawn(
      'prlimit',
      [
        '--nofile=256:256',
        process.execPath,
        '--import',
        'tsx',
        join(ROOT, 'src/manager/main.ts'),
        '--listen',
        '127.0.0.1:0',
        '--db',
        join(dir, 'm.db'),
        '--init-db',
        '--ca',
        f.ca,
        '--cert',
        f.cert,
        '--key',
        f.key,
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, MACSEC_LOG_LEVEL: 'error' } },
    );
    let stderr = '';
    proc.stderr!.on('data', (d) => (stderr += d));
    const attackers = new Set<Socket>();
    let flooding = true;
    let agent: Agent | undefined;
    let admin: ManagerApi | undefined;
    let topUp: NodeJS.Timeout | undefined;
    try {
      const port = await new Promise<number>((resolve, reject) => {
        createInterface({ input: proc.stdout! }).on('line', (l) => {
          try {
            const j = JSON.parse(l);
            if (j.ready) resolve(j.port);
          } catch {
            /* not ours */
          }
        });
        proc.on('exit', (c) => reject(new Error(`manager exited ${c}: ${stderr}`)));
      });
      // The attacker (another loopback address) keeps 400 silent connections open, reopening
      // any the manager drops, at most 40 new ones every 50 ms.
      const open = () => {
        const s = netConnect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' });
        attackers.add(s);
        s.on('error', () => {});
        s.on('close', () => attackers.delete(s));
      };
      topUp = setInterval(() => {
        for (let i = 0; i < 40 && flooding && attackers.size < 400; i++) open();
      }, 50);
      await new Promise((r) => setTimeout(r, 3000));
      admin = operator(pki, 'alice', port);
      agent = simAgent(pki, 'a1', port);
      await waitFor(
        async () => (await admin!.listAgents({ connectedOnly: true })).agents.some((a) => a.id === 'a1'),
        'agent connected during the flood',
        40_000,
      );
      await admin.openPort({ agentId: 'a1', interface: 'eth1', mode: PortMode.PORT_MODE_PSK });
      expect((await admin.getPort('a1/eth1')).agentId).toBe('a1');
    } finally {
      flooding = false;
      clearInterval(topUp);
      for (const s of attackers) s.destroy();
      admin?.close();
      await agent?.kill();
      proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
