/**
 * CAK key chains end to end: the manager (in process, SQLite file, gRPC with mTLS), two managed
 * agents (real KaY, recording SecY, in-memory LAN), macsecctl and the OSM execution environment.
 * Three rotations of a PSK channel with `macsecctl channels add-key` / `retire-key`: the CKN in
 * use changes each time, the MKA sessions stay (same runtime ids), and at every 5 ms sample both
 * ports are secured and each one's transmit key is installed for receive at the other (no gap).
 * No CLI output, answer or event carries a CAK. Then the OSM day-2 primitives add-channel-key and
 * retire-channel-key on a channel the EE created.
 */
import { credentials } from '@grpc/grpc-js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent/managed/agent.js';
import { CommandRegistry } from '../../src/cli/command.js';
import { registerControlCommands } from '../../src/cli/commands/control.js';
import type { ManagerApi } from '../../src/control/client.js';
import { ChannelKeyState, ChannelState, EventType } from '../../src/control/gen/macsec/v1/manager.js';
import { PortMode, PortState } from '../../src/control/gen/macsec/v1/types.js';
import { MemoryHub } from '../../src/link/memory.js';
import { chainOf } from '../../src/manager/key-chain.js';
import { startEeServer, type EeServer } from '../../src/osm/server.js';
import { RecordingSecy } from '../../src/secy/recording.js';
import { makePki, operator, simAgent, startManager, waitFor, watch, type RunningManager, type TestPki } from '../support/harness.js';
import { eeClient, runPrimitive as runOne } from '../support/osm/ee-client.js';
import { quietLogger, writePki } from '../support/osm/fixture.js';
import { makeTestPki } from '../support/osm/manager-double.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

let pki: TestPki;
let dir: string;
let m: RunningManager;
let admin: ManagerApi;
const hub = new MemoryHub();
const agents = new Map<string, Agent>();
/** The SecY of each agent's eth1 port (the channel the CLI rotates). */
const secys = new Map<string, RecordingSecy>();
const outputs: string[] = [];
/** Every CAK the manager held during the test, hex. */
const caks = new Set<string>();

async function ctl(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await registerControlCommands(new CommandRegistry('macsecctl')).run(
    [...argv, '--server', `127.0.0.1:${m.port}`, '--pki-dir', pki.dir, '--user', 'alice'],
    {
      out: (s) => out.push(s),
      err: (s) => err.push(s),
    },
  );
  outputs.push(...out, ...err);
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const noteCaks = () => {
  for (const c of m.manager.store.listChannels()) for (const k of chainOf(c)) caks.add(hex(k.cak));
};

beforeAll(async () => {
  pki = makePki();
  dir = mkdtempSync(join(tmpdir(), 'key-chain-e2e-'));
  m = await startManager(pki, join(dir, 'manager.db'));
  for (const id of ['a1', 'a2']) {
    agents.set(
      id,
      simAgent(pki, id, m.port, {
        hub,
        secyFactory: ({ interface: iface }) => {
          const s = new RecordingSecy();
          if (iface === 'eth1') secys.set(id, s);
          return { secy: s, ifname: `ms-${id}-${iface}`, stats: () => s.stats() };
        },
      }),
    );
  }
  admin = operator(pki, 'alice', m.port);
  await waitFor(() => m.manager.connectedAgentIds().length === 2, 'two agents');
});

afterAll(async () => {
  admin?.close();
  for (const a of agents.values()) await a.stop().catch(() => {});
  await m?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
  pki?.cleanup();
});

/** The TX key of `x` is installed and enabled for receive on `y`. */
const receives = (x: RecordingSecy, y: RecordingSecy) => {
  const ki = x.encodingAn === null ? undefined : x.txSas.get(x.encodingAn)?.ki;
  return !!ki && [...y.rxSas.values()].some((s) => s.enabled && s.ki === ki);
};

describe('CAK key chain rotation (manager + two managed agents + macsecctl)', () => {
  it('rotates a PSK channel three times without the ports going unsecured or a gap', async () => {
    for (const a of ['a1', 'a2']) await admin.openPort({ agentId: a, interface: 'eth1', mode: PortMode.PORT_MODE_PSK });
    const created = await ctl('channels', 'create', 'web', '--endpoint', 'a1:eth1:vnf1:eth0', '--endpoint', 'a2:eth1:vnf2:eth0', '--wait-secured');
    expect(created.code, created.err).toBe(0);
    expect(created.out).toMatch(/state secured/);
    // The create call shows the generated first key once (for the VNF side); nothing shows a key after.
    expect(created.out).toContain(`CAK ${hex(m.manager.store.getChannel('web')!.cak)}`);
    outputs.length = 0;
    noteCaks();
    const w = watch(admin);
    const port = (a: string) => agents.get(a)!.ports.get(`${a}/eth1`)!;
    const runtimes = ['a1', 'a2'].map((a) => port(a).runtimeId);
    let samples = 0;
    const bad: string[] = [];
    const seen = new Set<string>();
    const monitor = setInterval(() => {
      samples++;
      const [s1, s2] = [secys.get('a1')!, secys.get('a2')!];
      for (const a of ['a1', 'a2']) {
        const st = port(a).status();
        seen.add(st.ckn);
        if (st.state !== PortState.PORT_STATE_SECURED) bad.push(`${a} ${PortState[st.state]}`);
      }
      if (!s1.controlledPortEnabled || !s2.controlledPortEnabled) bad.push('controlled port disabled');
      if (!receives(s1, s2)) bad.push('a2 cannot receive a1');
      if (!receives(s2, s1)) bad.push('a1 cannot receive a2');
    }, 5);
    const inUse: string[] = [];
    try {
      let current = hex(m.manager.store.getChannel('web')!.ckn);
      inUse.push(current);
      for (let round = 1; round <= 3; round++) {
        const add = await ctl('channels', 'add-key', 'web', '--start-in', '1s', '--lifetime', '1d');
        expect(add.code, add.err).toBe(0);
        const next = /^added: key ([0-9a-f]{32}) of channel web, pending, starts /.exec(add.out)?.[1];
        expect(next, add.out).toBeDefined();
        noteCaks();
        // Pending until its start, then in use on both endpoints.
        const c = await waitFor(
          async () => {
            const ch = await admin.getSecureChannel('web');
            return ch.keys.find((k) => k.ckn === next)?.state === ChannelKeyState.CHANNEL_KEY_STATE_IN_USE ? ch : undefined;
          },
          `key ${round} in use`,
          20_000,
        );
        expect(c.keys.map((k) => k.ckn)).toEqual([current, next]);
        expect(c.keys[1]!.inUsePortIds).toEqual(['a1/eth1', 'a2/eth1']);
        const busy = await ctl('channels', 'keys', 'web');
        expect(busy.out).toMatch(new RegExp(`${next}\\s+in-use\\s+\\S+\\s+\\S+\\s+a1/eth1,a2/eth1`));
        const retire = await ctl('channels', 'retire-key', 'web', current);
        expect(retire.code, retire.err).toBe(0);
        expect(retire.out).toMatch(new RegExp(`^retired key ${current} of channel web`));
        current = next!;
        inUse.push(current);
        expect(hex(m.manager.store.getChannel('web')!.ckn)).toBe(current);
      }
      // The retired CAs leave the KaYs; the sessions are those of the start.
      const cas = (a: string) =>
        (port(a) as unknown as { running: { status(): { kay: { participants: { ckn: string }[] } } } }).running.status().kay.participants.map((p) => p.ckn);
      await waitFor(() => ['a1', 'a2'].every((a) => cas(a).length === 1), 'old CAs removed');
      expect(['a1', 'a2'].map(cas)).toEqual([[current], [current]]);
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      clearInterval(monitor);
      w.close();
    }
    expect(['a1', 'a2'].map((a) => port(a).runtimeId)).toEqual(runtimes);
    expect(samples).toBeGreaterThan(200);
    expect(bad.slice(0, 5)).toEqual([]);
    expect([...seen].sort()).toEqual([...inUse].sort()); // the CKN in use changed, through these four only
    const types = w.events.map((e) => e.type);
    expect(types.filter((t) => t === EventType.EVENT_TYPE_CHANNEL_KEY_ADDED)).toHaveLength(3);
    expect(types.filter((t) => t === EventType.EVENT_TYPE_CHANNEL_KEY_IN_USE)).toHaveLength(3);
    expect(types.filter((t) => t === EventType.EVENT_TYPE_CHANNEL_KEY_RETIRED)).toHaveLength(3);
    expect(types).not.toContain(EventType.EVENT_TYPE_PORT_UNSECURED);
    expect(types).not.toContain(EventType.EVENT_TYPE_CHANNEL_DEGRADED);
    expect((await admin.getSecureChannel('web')).state).toBe(ChannelState.CHANNEL_STATE_SECURED);
    // No CAK anywhere it could leak: CLI output (text and JSON), API answers, events.
    const json = await ctl('channels', 'get', 'web', '--json');
    const all = [...outputs, json.out, JSON.stringify(w.events), JSON.stringify(await admin.listSecureChannels())].join('\n');
    expect(caks.size).toBe(4);
    for (const cak of caks) expect(all).not.toContain(cak);
  }, 120_000);

  it('macsecctl: usage errors and manager refusals', async () => {
    let r = await ctl('channels', 'add-key', 'web', '--start-in', '1s', '--start-at', '2030-01-01T00:00:00Z');
    expect(r.code).toBe(2);
    expect(r.err).toContain('give --start-in or --start-at, not both');
    r = await ctl('channels', 'add-key', 'web', '--lifetime', 'forever');
    expect(r.code).toBe(2);
    r = await ctl('channels', 'add-key', 'web', '--start-at', '2001-01-01T00:00:00Z');
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^error: INVALID_ARGUMENT: start_time_ms: 2001-01-01T00:00:00.000Z is in the past/);
    r = await ctl('channels', 'add-key', 'nope');
    expect(r.err).toBe("error: NOT_FOUND: channel_id: secure channel 'nope' does not exist");
    const only = hex(m.manager.store.getChannel('web')!.ckn);
    r = await ctl('channels', 'retire-key', 'web', only, '--json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.err).error.code).toBe('FAILED_PRECONDITION');
    r = await ctl('channels', 'retire-key', 'web', 'aa'.repeat(16), '--allow-missing');
    expect(r.out).toBe(`channel web has no key ${'aa'.repeat(16)}`);
    // Read-only operators may look, not change.
    const ro = ['--server', `127.0.0.1:${m.port}`, '--pki-dir', pki.dir, '--user', 'bob'];
    const reg = () => registerControlCommands(new CommandRegistry('macsecctl'));
    const io = { out: () => {}, err: (s: string) => outputs.push(s) };
    expect(await reg().run(['channels', 'keys', 'web', ...ro], io)).toBe(0);
    expect(await reg().run(['channels', 'add-key', 'web', ...ro], io)).toBe(1);
    expect(outputs.at(-1)).toMatch(/^error: PERMISSION_DENIED: operator:read-only:bob is read-only and may not call AddChannelKey$/);
  });
});

describe('OSM day-2 primitives add-channel-key / retire-channel-key (real manager)', () => {
  let ee: EeServer;
  let osmFiles: ReturnType<typeof writePki>;
  beforeAll(async () => {
    const osm = makeTestPki();
    osmFiles = writePki(osm);
    ee = await startEeServer({
      host: '127.0.0.1',
      port: 0,
      tls: { ca: Buffer.from(osm.osmCa.certPem), cert: Buffer.from(osm.eeServer.certPem), key: Buffer.from(osm.eeServer.keyPem) },
      stateDir: join(dir, 'ee-state'),
      logger: quietLogger,
      operations: false,
    });
  });
  afterAll(async () => {
    await ee?.close();
    if (osmFiles) rmSync(osmFiles.dir, { recursive: true, force: true });
  });

  it('adds a next key (idempotent by the chain), retires the old one once the next is in use, and deletes the kept PSK', async () => {
    const c = eeClient(
      ee.port,
      credentials.createSsl(Buffer.from(readFileSync(osmFiles.osmCa)), Buffer.from(readFileSync(osmFiles.lcmKey)), Buffer.from(readFileSync(osmFiles.lcmCert))),
    );
    const y = (o: Record<string, unknown>) => stringify(o);
    const replies: unknown[] = [];
    const runPrimitive = async (...args: Parameters<typeof runOne>) => {
      const r = await runOne(...args);
      replies.push(r.replies);
      return r;
    };
    const f = pki.files('osm-a');
    const cfg = await runPrimitive(
      c,
      'config',
      y({ manager_address: `127.0.0.1:${m.port}`, manager_server_name: 'localhost', ca_cert_path: f.ca, client_cert_path: f.cert, client_key_path: f.key }),
    );
    expect(cfg.last!.status, cfg.last!.detailedMessage).toBe('OK');
    const create = await runPrimitive(
      c,
      'create-secure-channel',
      y({
        channel_name: 'osm-ch',
        endpoints: [
          { agent_id: 'a1', switch_port: 'eth2', vnf_id: 'vnf1', vnf_interface: 'eth1' },
          { agent_id: 'a2', switch_port: 'eth2', vnf_id: 'vnf2', vnf_interface: 'eth1' },
        ],
        port_mode: 'psk',
        wait_secured: true,
      }),
      60_000,
    );
    expect(create.last!.status, create.last!.detailedMessage).toBe('OK');
    const kept = join(dir, 'ee-state', 'psk', 'osm-ch.json');
    const first = JSON.parse(readFileSync(kept, 'utf8')) as { ckn_hex: string; cak_hex: string };

    // Nothing to retire yet; the key in use is not retired without a later one.
    let r = await runPrimitive(c, 'retire-channel-key', y({ channel_name: 'osm-ch', wait_seconds: 0 }));
    expect(r.last).toMatchObject({
      status: 'OK',
      detailedMessage: expect.stringMatching(/^nothing to retire: secure channel 'osm-ch' has one key; keys: [0-9a-f]+ IN_USE$/),
    });

    r = await runPrimitive(c, 'add-channel-key', y({ channel_name: 'osm-ch', start_in_seconds: 0, lifetime_seconds: 86_400 }));
    expect(r.last!.status, r.last!.detailedMessage).toBe('OK');
    const next =
      /^added: next key ([0-9a-f]{32}) of secure channel 'osm-ch' \((PENDING|ACTIVE|IN_USE)\), distributed to every endpoint, starts \S+, expires \S+; keys: /.exec(
        r.last!.detailedMessage,
      )?.[1];
    expect(next, r.last!.detailedMessage).toBeDefined();
    // A retry (or a second run before the rotation is finished) adds nothing.
    r = await runPrimitive(c, 'add-channel-key', y({ channel_name: 'osm-ch' }));
    expect(r.last!.detailedMessage).toMatch(new RegExp(`^already present: secure channel 'osm-ch' has a next key ${next} `));
    expect(chainOf(m.manager.store.getChannel('osm-ch')!)).toHaveLength(2);

    r = await runPrimitive(c, 'retire-channel-key', y({ channel_name: 'osm-ch', wait_seconds: 30 }), 60_000);
    expect(r.last!.status, r.last!.detailedMessage).toBe('OK');
    expect(r.last!.detailedMessage).toMatch(
      new RegExp(
        `^retired key ${first.ckn_hex} of secure channel 'osm-ch'; the generated PSK kept for the VNF side \\(.*\\) was that key and is deleted; keys: ${next} IN_USE$`,
      ),
    );
    expect(() => readFileSync(kept)).toThrow();
    r = await runPrimitive(c, 'retire-channel-key', y({ channel_name: 'osm-ch', ckn: first.ckn_hex }));
    expect(r.last!.detailedMessage).toMatch(/^no such key of 'osm-ch' left: nothing to retire; keys: /);
    // Parameters are checked and named.
    r = await runPrimitive(c, 'add-channel-key', y({ channel_name: 'osm-ch', start_in_seconds: 1, start_time: '2030-01-01T00:00:00Z' }));
    expect(r.last).toEqual({ status: 'ERROR', detailedMessage: "add-channel-key: give 'start_in_seconds' or 'start_time', not both" });
    r = await runPrimitive(c, 'retire-channel-key', y({ channel_name: 'osm-ch', ckn: 'zz' }));
    expect(r.last).toEqual({ status: 'ERROR', detailedMessage: `retire-channel-key: parameter 'ckn' "zz" must match 1 to 32 octets in hex` });
    // The administrator's channel is not the EE's to change.
    r = await runPrimitive(c, 'add-channel-key', y({ channel_name: 'web', request_id: 'x' }));
    expect(r.last!.status).toBe('ERROR');
    expect(r.last!.detailedMessage).toMatch(/^add-channel-key: the manager refused AddChannelKey of secure channel 'web' \(PERMISSION_DENIED: /);
    // No reply ever carried a CAK.
    noteCaks();
    caks.add(first.cak_hex);
    c.close();
    const text = JSON.stringify(replies);
    for (const cak of caks) expect(text).not.toContain(cak);
  }, 120_000);
});
