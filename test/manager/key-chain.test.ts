/**
 * CAK key chains of PSK channels (src/manager/key-chain.ts) through a Manager on a SQLite file
 * with fake agent streams: AddChannelKey generates and distributes a next key, RetireChannelKey
 * deletes it from the store (and its files), the API never carries a CAK, bad requests name
 * their field, lifetimes retire keys once another key is in use, and fingerprints of channels
 * never re-keyed (and of EAP ports) do not change.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AgentMessage, Hello, type DesiredPort, type DesiredState, type ManagerMessage } from '../../src/control/gen/macsec/v1/agent.js';
import { ChannelKeyState, EventType, type Event } from '../../src/control/gen/macsec/v1/manager.js';
import { PortMode, PortState, PortStatus } from '../../src/control/gen/macsec/v1/types.js';
import { KEY_CHAIN_CAPABILITY } from '../../src/control/vocabulary.js';
import type { MacsecError } from '../../src/common/errors.js';
import { toAddedKey, toChannel, toRetiredKey } from '../../src/manager/convert.js';
import { portFingerprint } from '../../src/manager/desired.js';
import { chainOf } from '../../src/manager/key-chain.js';
import { Manager } from '../../src/manager/manager.js';
import type { AgentStream } from '../../src/manager/sessions.js';
import { stableJson } from '../../src/manager/stable-json.js';
import { SqliteStore } from '../../src/manager/store/sqlite.js';
import type { StoredChannel } from '../../src/manager/store/store.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * An agent stream that acknowledges every desired state at once and reports each PSK port as
 * secured with the CKN it is told (default: the desired psk's, as an agent that runs one key).
 */
class FakeAgent extends EventEmitter implements AgentStream {
  readonly desired: DesiredState[] = [];
  autoAck = true;
  readonly principal = new Map<string, string>();

  constructor(
    readonly id: string,
    m: Manager,
    caps = ['psk', 'eap-embedded', KEY_CHAIN_CAPABILITY],
  ) {
    super();
    m.attachAgent(id, this);
    this.emit(
      'data',
      AgentMessage.fromPartial({
        hello: Hello.fromPartial({ agentId: id, version: 'test', capabilities: caps, interfaces: [{ name: 'eth1' }, { name: 'eth2' }], bootId: id }),
      }),
    );
  }
  write(msg: ManagerMessage): boolean {
    const d = msg.desired;
    if (d) {
      this.desired.push(d);
      if (this.autoAck) queueMicrotask(() => this.ack(d));
    }
    return true;
  }
  last(portId: string): DesiredPort | undefined {
    return this.desired.at(-1)?.ports.find((p) => p.portId === portId);
  }
  status(p: DesiredPort): PortStatus {
    const psk = !!p.psk?.cak.length;
    return PortStatus.fromPartial({
      state: psk ? PortState.PORT_STATE_SECURED : PortState.PORT_STATE_READY,
      ckn: this.principal.get(p.portId) ?? (psk ? hex(p.psk!.ckn) : ''),
      fingerprint: p.fingerprint,
    });
  }
  ack(d: DesiredState): void {
    this.emit('data', AgentMessage.fromPartial({ ack: { revision: d.revision, ports: d.ports.map((p) => ({ portId: p.portId, status: this.status(p) })) } }));
  }
  /** The port's KaY now transmits with this CA. */
  use(portId: string, ckn: string): void {
    this.principal.set(portId, ckn);
    const p = this.last(portId)!;
    this.emit('data', AgentMessage.fromPartial({ status: { portId, status: this.status(p) } }));
  }
  end(): void {}
  getPeer(): string {
    return `ipv4:127.0.0.1:${this.id}`;
  }
}

const code = async (p: Promise<unknown>): Promise<MacsecError> =>
  p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => e as MacsecError,
  );

let dir: string;
let dbPath: string;
let m: Manager;
let agents: FakeAgent[];
let events: Event[];

async function setup(opts: { ackTimeoutMs?: number; caps?: string[][] } = {}) {
  m = new Manager(new SqliteStore(dbPath, { create: true }), { id: 'mgr', ackTimeoutMs: opts.ackTimeoutMs ?? 2000 });
  events = [];
  m.events.subscribe((e) => events.push(e));
  agents = ['a1', 'a2'].map((id, i) => new FakeAgent(id, m, opts.caps?.[i]));
  for (const a of ['a1', 'a2'])
    await m.openPort({ agentId: a, interface: 'eth1', mode: PortMode.PORT_MODE_PSK, policy: undefined, ovsBridge: '', radius: undefined });
  const r = await m.createChannel({
    name: 'web',
    endpoints: [
      { agentId: 'a1', switchPort: 'eth1', vnfId: 'vnf1', vnfInterface: 'eth0' },
      { agentId: 'a2', switchPort: 'eth1', vnfId: 'vnf2', vnfInterface: 'eth0' },
    ],
    psk: undefined,
    waitSecured: false,
    waitTimeoutMs: 0,
    requestId: '',
  });
  return r.channel;
}

const stored = () => m.store.getChannel('web')!;
/** Every CAK the channel holds now, hex. */
const caks = () => chainOf(stored()).map((k) => hex(k.cak));
const fileBytes = () => Buffer.concat([dbPath, `${dbPath}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'key-chain-'));
  dbPath = join(dir, 'manager.db');
});
afterEach(() => {
  m?.stop();
  m?.store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('AddChannelKey', () => {
  it('generates the next key, distributes it to every PSK endpoint and never returns its CAK', async () => {
    const ch = await setup();
    const before = agents.map((a) => a.last(`${a.id}/eth1`)!);
    const start = Date.now() + 60_000;
    const r = await m.addChannelKey({ channelId: 'web', startTimeMs: start, lifetimeSeconds: 3600, requestId: '' });
    expect(r.created).toBe(true);
    expect(hex(r.key.ckn)).toMatch(/^[0-9a-f]{32}$/);
    expect(r.key).toMatchObject({ startMs: start, lifetimeS: 3600, expiresMs: start + 3_600_000, state: 'pending', inUsePortIds: [] });
    // Stored: the current key unchanged, the next one with a fresh 16-octet CAK.
    const c = stored();
    expect(hex(c.ckn)).toBe(hex(ch.ckn));
    expect(c.nextKeys).toHaveLength(1);
    const next = c.nextKeys![0]!;
    expect(next.cak).toHaveLength(16);
    expect(hex(next.ckn)).toBe(hex(r.key.ckn));
    // Both agents got the chain: psk stays the current key, psk_keys = [current, next].
    for (const [i, a] of agents.entries()) {
      const d = a.last(`${a.id}/eth1`)!;
      expect(hex(d.psk!.ckn)).toBe(hex(c.ckn));
      expect(d.pskKeys.map((k) => [hex(k.cak), hex(k.ckn), k.startTimeMs, k.lifetimeSeconds])).toEqual([
        [hex(c.cak), hex(c.ckn), c.createdMs, 0],
        [hex(next.cak), hex(next.ckn), start, 3600],
      ]);
      expect(d.fingerprint).not.toBe(before[i]!.fingerprint);
    }
    // The API's answers and the events carry CKNs only.
    const v = m.getChannel('web');
    expect(v.keys.map((k) => [hex(k.ckn), k.state])).toEqual([
      [hex(c.ckn), 'in_use'],
      [hex(next.ckn), 'pending'],
    ]);
    const wire = JSON.stringify([toAddedKey(r), toChannel(v), events]);
    for (const cak of caks()) expect(wire).not.toContain(cak);
    expect(toChannel(v).keys.map((k) => k.state)).toEqual([ChannelKeyState.CHANNEL_KEY_STATE_IN_USE, ChannelKeyState.CHANNEL_KEY_STATE_PENDING]);
    const added = events.filter((e) => e.type === EventType.EVENT_TYPE_CHANNEL_KEY_ADDED);
    expect(added).toHaveLength(1);
    expect(added[0]!.attributes).toEqual({ ckn: hex(next.ckn), start_time_ms: String(start), lifetime_seconds: '3600' });
  });

  it('keeps a 32-octet CAK 32 octets, and a retry with the same request id adds nothing', async () => {
    m = new Manager(new SqliteStore(dbPath, { create: true }), { id: 'mgr', ackTimeoutMs: 2000 });
    agents = ['a1', 'a2'].map((id) => new FakeAgent(id, m));
    for (const a of ['a1', 'a2'])
      await m.openPort({ agentId: a, interface: 'eth1', mode: PortMode.PORT_MODE_PSK, policy: undefined, ovsBridge: '', radius: undefined });
    await m.createChannel({
      name: 'web',
      endpoints: ['a1', 'a2'].map((a) => ({ agentId: a, switchPort: 'eth1', vnfId: `v-${a}`, vnfInterface: 'eth0' })),
      psk: { cakHex: 'ab'.repeat(32), cknHex: 'cd'.repeat(8) },
      waitSecured: false,
      waitTimeoutMs: 0,
      requestId: '',
    });
    const r1 = await m.addChannelKey({ channelId: 'web', startTimeMs: 0, lifetimeSeconds: 0, requestId: 'rot-1' });
    const r2 = await m.addChannelKey({ channelId: 'web', startTimeMs: 0, lifetimeSeconds: 0, requestId: 'rot-1' });
    expect(r2.created).toBe(false);
    expect(hex(r2.key.ckn)).toBe(hex(r1.key.ckn));
    expect(stored().nextKeys).toHaveLength(1);
    expect(stored().nextKeys![0]!.cak).toHaveLength(32);
    // Started at once: active, not pending.
    expect(r1.key.state).toBe('active');
  });

  it('refuses bad requests naming the field, unknown channels, EAP channels, full chains and agents without key chains', async () => {
    await setup();
    const now = Date.now();
    const add = (over: Partial<Parameters<Manager['addChannelKey']>[0]>) =>
      code(m.addChannelKey({ channelId: 'web', startTimeMs: 0, lifetimeSeconds: 0, requestId: '', ...over }));
    const cases: Array<[Partial<Parameters<Manager['addChannelKey']>[0]>, string, RegExp]> = [
      [{ channelId: '' }, 'invalid_argument', /^channel_id: is required$/],
      [{ channelId: 'no such/name' }, 'invalid_argument', /^channel_id: /],
      [{ requestId: 'bad id!' }, 'invalid_argument', /^request_id: must match/],
      [{ startTimeMs: now - 60_000 }, 'invalid_argument', /^start_time_ms: .* is in the past/],
      [{ startTimeMs: now + 400 * 86_400_000 }, 'invalid_argument', /^start_time_ms: .* more than 366 days ahead/],
      [{ startTimeMs: -1 }, 'invalid_argument', /^start_time_ms: /],
      [{ lifetimeSeconds: 315_360_001 }, 'invalid_argument', /^lifetime_seconds: 315360001 must be 0 \(none\) or 1\.\.315360000$/],
      [{ channelId: 'nope' }, 'not_found', /^channel_id: secure channel 'nope' does not exist$/],
    ];
    for (const [over, c, msg] of cases) {
      const e = await add(over);
      expect(e.code, JSON.stringify(over)).toBe(c);
      expect(e.message).toMatch(msg);
    }
    // Not before the latest key's start.
    await m.addChannelKey({ channelId: 'web', startTimeMs: now + 120_000, lifetimeSeconds: 0, requestId: '' });
    const early = await add({ startTimeMs: now + 60_000 });
    expect(early.code).toBe('invalid_argument');
    expect(early.message).toMatch(/^start_time_ms: .* is before the start of the channel's latest key [0-9a-f]{32} /);
    // At most 4 keys.
    await m.addChannelKey({ channelId: 'web', startTimeMs: now + 130_000, lifetimeSeconds: 0, requestId: '' });
    await m.addChannelKey({ channelId: 'web', startTimeMs: now + 140_000, lifetimeSeconds: 0, requestId: '' });
    const full = await add({ startTimeMs: now + 150_000 });
    expect(full.code).toBe('failed_precondition');
    expect(full.message).toBe("channel_id: secure channel 'web' has 4 keys, the most its key chain holds; retire one first");
    // A channel of EAP ports has no key chain.
    for (const a of ['a1', 'a2'])
      await m.openPort({ agentId: a, interface: 'eth2', mode: PortMode.PORT_MODE_EAP_EMBEDDED, policy: undefined, ovsBridge: '', radius: undefined });
    await m.createChannel({
      name: 'eap',
      endpoints: ['a1', 'a2'].map((a) => ({ agentId: a, switchPort: 'eth2', vnfId: `v-${a}`, vnfInterface: 'eth0' })),
      psk: undefined,
      waitSecured: false,
      waitTimeoutMs: 0,
      requestId: '',
    });
    for (const e of [await add({ channelId: 'eap' }), await code(m.retireChannelKey({ channelId: 'eap', cknHex: 'aa', force: false, allowMissing: false }))]) {
      expect(e.code).toBe('failed_precondition');
      expect(e.message).toMatch(/^channel_id: secure channel 'eap' has no PSK endpoints: its EAP ports derive their CAK from EAP/);
    }
    expect(stored().nextKeys).toHaveLength(3); // nothing else was added
  });

  it('needs every PSK endpoint agent connected and running key chains', async () => {
    await setup({ caps: [['psk', 'eap-embedded', KEY_CHAIN_CAPABILITY], ['psk']] });
    const old = await code(m.addChannelKey({ channelId: 'web', startTimeMs: 0, lifetimeSeconds: 0, requestId: '' }));
    expect(old.code).toBe('failed_precondition');
    expect(old.message).toBe("endpoints[1].agent_id: agent 'a2' (version test) does not run key chains (capability psk-key-chain); upgrade it first");
    agents[1]!.emit('end');
    const away = await code(m.addChannelKey({ channelId: 'web', startTimeMs: 0, lifetimeSeconds: 0, requestId: '' }));
    expect(away.code).toBe('unavailable');
    expect(away.message).toMatch(/^endpoints\[1\]\.agent_id: agent 'a2' is not connected/);
    expect(stored().nextKeys ?? []).toEqual([]);
  });

  it('refuses to add an endpoint on an agent without key chains to a channel whose chain changed', async () => {
    await setup();
    const a3 = new FakeAgent('a3', m, ['psk']);
    const a4 = new FakeAgent('a4', m);
    for (const a of ['a3', 'a4'])
      await m.openPort({ agentId: a, interface: 'eth1', mode: PortMode.PORT_MODE_PSK, policy: undefined, ovsBridge: '', radius: undefined });
    await m.addChannelKey({ channelId: 'web', startTimeMs: 0, lifetimeSeconds: 0, requestId: '' });
    const add = (agentId: string) =>
      m.updateChannel({
        channelId: 'web',
        addEndpoints: [{ agentId, switchPort: 'eth1', vnfId: `v-${agentId}`, vnfInterface: 'eth0' }],
        removePortIds: [],
        waitSecured: false,
        waitTimeoutMs: 0,
      });
    const e = await code(add('a3'));
    expect(e.code).toBe('failed_precondition');
    expect(e.message).toBe(
      "add_endpoints[0].agent_id: agent 'a3' (version test) does not run key chains (capability psk-key-chain) and secure channel 'web' has a key chain; upgrade it first",
    );
    expect(a3.last('a3/eth1')?.psk).toBeUndefined();
    expect(stored().endpoints.map((x) => x.agentId)).toEqual(['a1', 'a2']);
    // an agent that runs key chains is added and gets the whole chain
    await add('a4');
    expect(a4.last('a4/eth1')?.pskKeys).toHaveLength(2);
  });

  it('takes the key back when an agent does not acknowledge it', async () => {
    await setup({ ackTimeoutMs: 300 });
    agents[1]!.autoAck = false;
    const e = await code(m.addChannelKey({ channelId: 'web', startTimeMs: 0, lifetimeSeconds: 0, requestId: '' }));
    expect(e.code).toBe('deadline_exceeded');
    expect(stored().nextKeys ?? []).toEqual([]);
    expect(caks()).toHaveLength(1);
    // The other agent is told to drop it again.
    await sleep(20);
    expect(agents[0]!.last('a1/eth1')!.pskKeys).toEqual([]);
    expect(events.some((x) => x.type === EventType.EVENT_TYPE_CHANNEL_KEY_ADDED)).toBe(false);
  });
});

describe('RetireChannelKey', () => {
  it('refuses to retire the key in use until the next is in use everywhere, then deletes it from the store and its files', async () => {
    const ch = await setup();
    const oldCak = caks()[0]!;
    const r = await m.addChannelKey({ channelId: 'web', startTimeMs: 0, lifetimeSeconds: 0, requestId: '' });
    const next = hex(r.key.ckn);
    const retire = (over: Partial<Parameters<Manager['retireChannelKey']>[0]> = {}) =>
      m.retireChannelKey({ channelId: 'web', cknHex: hex(ch.ckn), force: false, allowMissing: false, ...over });

    const busy = await code(retire());
    expect(busy.code).toBe('failed_precondition');
    expect(busy.message).toMatch(new RegExp(`^ckn: key ${hex(ch.ckn)} is still the CA in use on a1/eth1, a2/eth1 `));
    // One endpoint switched: the next key is not in use on every endpoint yet.
    agents[0]!.use('a1/eth1', next);
    expect(m.getChannel('web').keys.map((k) => [k.state, k.inUsePortIds])).toEqual([
      ['active', ['a2/eth1']],
      ['active', ['a1/eth1']],
    ]);
    expect((await code(retire())).code).toBe('failed_precondition');
    agents[1]!.use('a2/eth1', next);
    expect(m.getChannel('web').keys.map((k) => k.state)).toEqual(['active', 'in_use']);
    const inUse = events.filter((e) => e.type === EventType.EVENT_TYPE_CHANNEL_KEY_IN_USE);
    expect(inUse.map((e) => e.attributes.ckn)).toEqual([next]);

    expect(fileBytes().includes(Buffer.from(oldCak, 'hex'))).toBe(true); // before: in the files
    const out = await retire();
    expect(out.existed).toBe(true);
    expect(hex(out.key!.ckn)).toBe(hex(ch.ckn));
    expect(out.key!.state).toBe('retired');
    // The store: the next key is the current one, the old CAK gone (rows, free pages and WAL).
    const c = stored();
    expect(hex(c.ckn)).toBe(next);
    expect(c.nextKeys ?? []).toEqual([]);
    expect(c.generatedPsk).toBe(false);
    expect(caks()).not.toContain(oldCak);
    expect(fileBytes().includes(Buffer.from(oldCak, 'hex'))).toBe(false);
    m.stop();
    m.store.close();
    const reopened = new SqliteStore(dbPath);
    expect(hex(reopened.getChannel('web')!.ckn)).toBe(next);
    reopened.close();
    expect(fileBytes().includes(Buffer.from(oldCak, 'hex'))).toBe(false);
    // Agents: psk is the new key alone.
    for (const a of agents) {
      const d = a.last(`${a.id}/eth1`)!;
      expect(hex(d.psk!.ckn)).toBe(next);
      expect(d.pskKeys).toEqual([]);
    }
    const retired = events.filter((e) => e.type === EventType.EVENT_TYPE_CHANNEL_KEY_RETIRED);
    expect(retired.map((e) => e.attributes)).toEqual([{ ckn: hex(ch.ckn), reason: 'operator' }]);
    const wire = JSON.stringify([toRetiredKey(out), events]);
    expect(wire).not.toContain(oldCak);
    expect(wire).not.toContain(hex(c.cak));
    m = undefined as unknown as Manager; // closed above
  });

  it('retires a pending key at once, forced retirement, missing keys and the last key', async () => {
    const ch = await setup();
    const retire = (over: Partial<Parameters<Manager['retireChannelKey']>[0]>) =>
      m.retireChannelKey({ channelId: 'web', cknHex: hex(ch.ckn), force: false, allowMissing: false, ...over });
    const cases: Array<[Partial<Parameters<Manager['retireChannelKey']>[0]>, string, RegExp]> = [
      [{ cknHex: '' }, 'invalid_argument', /^ckn: is required/],
      [{ cknHex: 'xyz' }, 'invalid_argument', /^ckn: is not a hex string$/],
      [{ cknHex: 'aa'.repeat(33) }, 'invalid_argument', /^ckn: must be 1\.\.32 octets \(got 33\)$/],
      [{ channelId: '' }, 'invalid_argument', /^channel_id: is required$/],
      [{ channelId: 'nope' }, 'not_found', /^channel_id: secure channel 'nope' does not exist$/],
      [{ cknHex: 'aa'.repeat(16) }, 'not_found', new RegExp(`^ckn: secure channel 'web' has no key with CKN ${'aa'.repeat(16)}$`)],
      [{}, 'failed_precondition', /^ckn: [0-9a-f]+ is the only key of secure channel 'web'; add a next key first, or delete the channel$/],
    ];
    for (const [over, c, msg] of cases) {
      const e = await code(retire(over));
      expect(e.code, JSON.stringify(over)).toBe(c);
      expect(e.message).toMatch(msg);
    }
    expect((await retire({ cknHex: 'aa'.repeat(16), allowMissing: true })).existed).toBe(false);

    const pending = await m.addChannelKey({ channelId: 'web', startTimeMs: Date.now() + 60_000, lifetimeSeconds: 0, requestId: '' });
    const out = await retire({ cknHex: hex(pending.key.ckn) });
    expect(out.existed).toBe(true);
    expect(stored().nextKeys ?? []).toEqual([]);
    // Forced: the key in use goes although no other key is in use yet.
    const r = await m.addChannelKey({ channelId: 'web', startTimeMs: 0, lifetimeSeconds: 0, requestId: '' });
    const forced = await retire({ force: true });
    expect(forced.existed).toBe(true);
    expect(hex(stored().ckn)).toBe(hex(r.key.ckn));
    expect(events.filter((e) => e.type === EventType.EVENT_TYPE_CHANNEL_KEY_RETIRED).at(-1)!.attributes).toEqual({
      ckn: hex(ch.ckn),
      reason: 'operator',
      forced: 'true',
    });
  });

  it('only the owner (or an admin) changes a chain', async () => {
    await setup();
    const osm = { label: 'operator:orchestrator:osm-b', scoped: true };
    const e = await code(m.addChannelKey({ channelId: 'web', startTimeMs: 0, lifetimeSeconds: 0, requestId: '' }, osm));
    expect(e.code).toBe('permission_denied');
    expect(e.message).toMatch(/^secure channel 'web' is owned by system; operator:orchestrator:osm-b may only change/);
    const e2 = await code(m.retireChannelKey({ channelId: 'web', cknHex: 'aa', force: false, allowMissing: true }, osm));
    expect(e2.code).toBe('permission_denied');
  });
});

describe('key lifetimes', () => {
  it('an expired key in use stays (CHANNEL_KEY_EXPIRED) until a later key is in use, then is retired', async () => {
    const ch = await setup();
    const k1 = await m.addChannelKey({ channelId: 'web', startTimeMs: 0, lifetimeSeconds: 1, requestId: '' });
    const c1 = hex(k1.key.ckn);
    for (const a of agents) a.use(`${a.id}/eth1`, c1);
    await m.retireChannelKey({ channelId: 'web', cknHex: hex(ch.ckn), force: false, allowMissing: false });
    // k1 is the only key; its lifetime ends: kept, and said so once.
    await sleep(1300);
    const expired = events.filter((e) => e.type === EventType.EVENT_TYPE_CHANNEL_KEY_EXPIRED);
    expect(expired.map((e) => e.attributes.ckn)).toEqual([c1]);
    expect(hex(stored().ckn)).toBe(c1);
    // A next key comes into use: the expired one is retired by the manager.
    const k2 = await m.addChannelKey({ channelId: 'web', startTimeMs: 0, lifetimeSeconds: 0, requestId: '' });
    expect(hex(stored().ckn)).toBe(c1); // not yet: k2 is not in use
    for (const a of agents) a.use(`${a.id}/eth1`, hex(k2.key.ckn));
    await sleep(50);
    expect(hex(stored().ckn)).toBe(hex(k2.key.ckn));
    expect(chainOf(stored())).toHaveLength(1);
    expect(events.filter((e) => e.type === EventType.EVENT_TYPE_CHANNEL_KEY_RETIRED).map((e) => e.attributes)).toEqual([
      { ckn: hex(ch.ckn), reason: 'operator' },
      { ckn: c1, reason: 'lifetime' },
    ]);
  });

  it('a key whose lifetime ends while the next is already in use is retired at its expiry', async () => {
    await setup();
    const k1 = await m.addChannelKey({ channelId: 'web', startTimeMs: 0, lifetimeSeconds: 1, requestId: '' });
    const c1 = hex(k1.key.ckn);
    for (const a of agents) a.use(`${a.id}/eth1`, c1);
    const k2 = await m.addChannelKey({ channelId: 'web', startTimeMs: 0, lifetimeSeconds: 0, requestId: '' });
    for (const a of agents) a.use(`${a.id}/eth1`, hex(k2.key.ckn));
    expect(chainOf(stored()).map((k) => hex(k.ckn))).toContain(c1);
    await sleep(1300);
    expect(chainOf(stored()).map((k) => hex(k.ckn))).not.toContain(c1);
    expect(events.find((e) => e.type === EventType.EVENT_TYPE_CHANNEL_KEY_RETIRED && e.attributes.ckn === c1)?.attributes.reason).toBe('lifetime');
    expect(events.some((e) => e.type === EventType.EVENT_TYPE_CHANNEL_KEY_EXPIRED)).toBe(false);
  });
});

describe('fingerprints', () => {
  it('a channel never re-keyed keeps the fingerprint of before key chains; EAP ports never change with the chain', async () => {
    await setup();
    for (const a of ['a1', 'a2'])
      await m.openPort({ agentId: a, interface: 'eth2', mode: PortMode.PORT_MODE_EAP_EMBEDDED, policy: undefined, ovsBridge: '', radius: undefined });
    // A channel of EAP ports (they never get the CAK; their fingerprint has the channel's key id).
    const mixed = await m.createChannel({
      name: 'mixed',
      endpoints: [
        { agentId: 'a1', switchPort: 'eth2', vnfId: 'v1', vnfInterface: 'eth0' },
        { agentId: 'a2', switchPort: 'eth2', vnfId: 'v2', vnfInterface: 'eth0' },
      ],
      psk: undefined,
      waitSecured: false,
      waitTimeoutMs: 0,
      requestId: '',
    });
    const old = (p: ReturnType<Manager['store']['getPort']>, c: StoredChannel) =>
      createHash('sha256')
        .update(stableJson({ i: p!.interface, m: p!.mode, p: p!.policy, o: p!.ovsBridge, r: p!.radius ?? null, c: c.id, k: c.keyId, a: ['vnf1'] }))
        .digest('hex')
        .slice(0, 32);
    const web = stored();
    const p1 = m.store.getPort('a1/eth1');
    expect(portFingerprint(p1!, web, ['vnf1'])).toBe(old(p1, web));
    expect(agents[0]!.last('a1/eth1')!.fingerprint).toBe(old(p1, web));
    // EAP ports of a (hypothetically) re-keyed channel keep theirs.
    const eap = m.store.getPort('a1/eth2')!;
    const mc = m.store.getChannel(mixed.channel.id)!;
    const rekeyedMc: StoredChannel = { ...mc, nextKeys: [{ ...chainOf(mc)[0]!, keyId: 'x', ckn: new Uint8Array(4) }] };
    expect(portFingerprint(eap, rekeyedMc, ['v1'])).toBe(portFingerprint(eap, mc, ['v1']));
    expect(portFingerprint(p1!, { ...web, nextKeys: rekeyedMc.nextKeys! }, ['vnf1'])).not.toBe(portFingerprint(p1!, web, ['vnf1']));
  });
});
