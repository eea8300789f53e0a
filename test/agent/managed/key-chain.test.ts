/**
 * The managed agent's side of PSK key chains (src/agent/managed/port.ts updateKeys/applyKeys):
 * two agents with the real KaY on an in-memory LAN, driven by reconcile() as the manager would.
 * A desired state that adds a next key keeps the running port (same runtime), the KaY gets the
 * key at its start time through addCak without replace and switches to it while the port stays
 * secured; the manager retiring the old key makes the agent call removeCak. An agent started
 * after a next key's start adds it at once.
 */
import { credentials } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../../src/agent/managed/agent.js';
import type { ManagedPort } from '../../../src/agent/managed/port.js';
import { keyChain, sameExceptKeys } from '../../../src/agent/managed/spec.js';
import { silentLogger } from '../../../src/common/log.js';
import { DesiredPort } from '../../../src/control/gen/macsec/v1/agent.js';
import { PortMode, PortPolicy, PortState } from '../../../src/control/gen/macsec/v1/types.js';
import { KEY_CHAIN_CAPABILITY } from '../../../src/control/vocabulary.js';
import { MemoryHub } from '../../../src/link/memory.js';
import { Kay } from '../../../src/mka/kay.js';
import type { KayFactory } from '../../../src/port/driver.js';
import { RecordingSecy } from '../../../src/secy/recording.js';

const K0 = { cak: Buffer.from('135bd758b0ee5c11c55ff6ab19fdb199', 'hex'), ckn: Buffer.from('96437a93ccf10d9dfe347846cce52c7d', 'hex') };
const K1 = { cak: Buffer.from('f00dfeedf00dfeedf00dfeedf00dfeed', 'hex'), ckn: Buffer.from('a1a2a3a4a5a6a7a8a9aaabacadaeafb0', 'hex') };
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

interface Call {
  agent: string;
  op: 'addCak' | 'removeCak';
  ckn: string;
  replace: boolean | undefined;
  at: number;
}

/** The real KaY, with its addCak/removeCak calls recorded. */
const spyingKay =
  (agent: string, calls: Call[]): KayFactory =>
  (cfg) => {
    const k = new Kay(cfg);
    const add = k.addCak.bind(k);
    const remove = k.removeCak.bind(k);
    k.addCak = (c, now, opts) => {
      calls.push({ agent, op: 'addCak', ckn: hex(c.ckn), replace: opts?.replace, at: Date.now() });
      return add(c, now, opts);
    };
    k.removeCak = (ckn, now) => {
      calls.push({ agent, op: 'removeCak', ckn: hex(ckn), replace: undefined, at: Date.now() });
      return remove(ckn, now);
    };
    return k;
  };

function agent(id: string, hub: MemoryHub, calls: Call[], secys: Map<string, RecordingSecy>): Agent {
  return new Agent({
    id,
    managerAddress: '127.0.0.1:1', // never dialled: the test calls reconcile() itself
    credentials: credentials.createInsecure(),
    interfaces: [],
    log: silentLogger,
    kayFactory: spyingKay(id, calls),
    secyFactory: () => {
      const s = new RecordingSecy();
      secys.set(id, s);
      return { secy: s, ifname: `ms-${id}` };
    },
    linkFactory: hub.factory(),
    lanOf: () => 'lan',
    macOf: () => Uint8Array.of(2, 0, 0, 0, 0, id.charCodeAt(0)),
    mka: { helloTimeMs: 200, lifeTimeMs: 1200 },
  });
}

const base = (agentId: string, fingerprint: string, over: Partial<DesiredPort> = {}) =>
  DesiredPort.fromPartial({
    portId: `${agentId}/eth1`,
    interface: 'eth1',
    mode: PortMode.PORT_MODE_PSK,
    policy: { keyServerPriority: agentId === 'a' ? 10 : 20 },
    channelId: 'ch-1',
    psk: K0,
    allowedVnfIds: ['vnf'],
    fingerprint,
    ...over,
  });
const chain = (start: number) => [
  { ...K0, startTimeMs: 1, lifetimeSeconds: 0 },
  { ...K1, startTimeMs: start, lifetimeSeconds: 3600 },
];

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Watches a port: every forwarded event kind, and whether it was ever seen not secured. */
function watchPort(p: ManagedPort) {
  const kinds: string[] = [];
  let unsecuredSamples = 0;
  p.on('event', (e: { kind: string }) => kinds.push(e.kind));
  const t = setInterval(() => {
    if (p.status().state !== PortState.PORT_STATE_SECURED) unsecuredSamples++;
  }, 10);
  return { kinds, unsecured: () => unsecuredSamples, stop: () => clearInterval(t) };
}

/** The TX key of `x` is installed and enabled for receive on `y` (no gap for x -> y). */
const receives = (x: RecordingSecy, y: RecordingSecy) => {
  const an = x.encodingAn;
  const ki = an === null ? undefined : x.txSas.get(an)?.ki;
  return !!ki && [...y.rxSas.values()].some((s) => s.enabled && s.ki === ki);
};

const agents: Agent[] = [];
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
});

describe('managed agent: PSK key chain', () => {
  it('advertises key chains; keyChain and sameExceptKeys', () => {
    const a = agent('a', new MemoryHub(), [], new Map());
    expect(a.capabilities()).toEqual(['psk', KEY_CHAIN_CAPABILITY]);
    expect(keyChain(base('a', 'f')).map((k) => hex(k.ckn))).toEqual([hex(K0.ckn)]);
    expect(keyChain(base('a', 'f', { pskKeys: chain(5) })).map((k) => hex(k.ckn))).toEqual([hex(K0.ckn), hex(K1.ckn)]);
    expect(keyChain(base('a', 'f', { psk: undefined }))).toEqual([]);
    expect(sameExceptKeys(base('a', 'f1'), base('a', 'f2', { psk: K1, pskKeys: chain(5) }))).toBe(true);
    expect(sameExceptKeys(base('a', 'f1'), base('a', 'f2', { policy: PortPolicy.fromPartial({ keyServerPriority: 1 }) }))).toBe(false);
    expect(sameExceptKeys(base('a', 'f1'), base('a', 'f2', { channelId: 'ch-2' }))).toBe(false);
  });

  it('adds the next key at its start time (addCak, no replace), switches without a gap, and removes the retired key (removeCak)', async () => {
    const hub = new MemoryHub();
    const calls: Call[] = [];
    const secys = new Map<string, RecordingSecy>();
    const a = agent('a', hub, calls, secys);
    const b = agent('b', hub, calls, secys);
    agents.push(a, b);
    await a.reconcile({ revision: 1, ports: [base('a', 'f1')] });
    await b.reconcile({ revision: 1, ports: [base('b', 'f1')] });
    const pa = a.ports.get('a/eth1')!;
    const pb = b.ports.get('b/eth1')!;
    const both = () => [pa, pb];
    await until('secured', () => both().every((p) => p.status().state === PortState.PORT_STATE_SECURED));
    expect(both().map((p) => p.status().ckn)).toEqual([hex(K0.ckn), hex(K0.ckn)]);
    const runtimes = both().map((p) => p.runtimeId);
    const watches = both().map(watchPort);
    let gaps = 0;
    const gapTimer = setInterval(() => {
      if (!receives(secys.get('a')!, secys.get('b')!) || !receives(secys.get('b')!, secys.get('a')!)) gaps++;
    }, 5);
    try {
      // The manager adds a next key starting in 700 ms: the ports keep running, nothing is added yet.
      const start = Date.now() + 700;
      await a.reconcile({ revision: 2, ports: [base('a', 'f2', { pskKeys: chain(start) })] });
      await b.reconcile({ revision: 2, ports: [base('b', 'f2', { pskKeys: chain(start) })] });
      expect(a.ports.get('a/eth1')).toBe(pa);
      expect(b.ports.get('b/eth1')).toBe(pb);
      expect(pa.status().fingerprint).toBe('f2');
      expect(calls).toEqual([]);
      // At the start time each KaY gets the key, without replace, and both switch to it.
      await until('K1 added on both', () => calls.filter((c) => c.op === 'addCak').length === 2);
      for (const c of calls) {
        expect(c).toMatchObject({ op: 'addCak', ckn: hex(K1.ckn), replace: undefined });
        expect(c.at).toBeGreaterThanOrEqual(start);
      }
      await until('K1 in use on both', () => both().every((p) => p.status().ckn === hex(K1.ckn)));
      expect(both().map((p) => p.status().state)).toEqual([PortState.PORT_STATE_SECURED, PortState.PORT_STATE_SECURED]);

      // The manager retires K0: psk is K1 alone now; the agents remove K0's CA.
      await a.reconcile({ revision: 3, ports: [base('a', 'f3', { psk: K1 })] });
      await b.reconcile({ revision: 3, ports: [base('b', 'f3', { psk: K1 })] });
      expect(calls.filter((c) => c.op === 'removeCak').map((c) => [c.agent, c.ckn])).toEqual([
        ['a', hex(K0.ckn)],
        ['b', hex(K0.ckn)],
      ]);
      const cas = (p: ManagedPort) =>
        (p as unknown as { running: { status(): { kay: { participants: { ckn: string }[] } } } }).running.status().kay.participants;
      await until('K0 gone from the KaYs', () => both().every((p) => cas(p).length === 1));
      expect(both().map((p) => cas(p)[0]!.ckn)).toEqual([hex(K1.ckn), hex(K1.ckn)]);
      await new Promise((r) => setTimeout(r, 300));
      expect(both().map((p) => p.runtimeId)).toEqual(runtimes);
      expect(both().map((p) => p.status().state)).toEqual([PortState.PORT_STATE_SECURED, PortState.PORT_STATE_SECURED]);
      for (const w of watches) {
        expect(w.unsecured()).toBe(0);
        expect(w.kinds).not.toContain('unsecured');
        expect(w.kinds).toContain('principalChanged');
      }
      expect(gaps).toBe(0);
    } finally {
      clearInterval(gapTimer);
      for (const w of watches) w.stop();
    }
  });

  it('a port started after a next key started runs it at once; a change besides the keys replaces the runtime', async () => {
    const hub = new MemoryHub();
    const calls: Call[] = [];
    const a = agent('a', hub, calls, new Map());
    agents.push(a);
    await a.reconcile({ revision: 1, ports: [base('a', 'f1', { pskKeys: chain(Date.now() - 1000) })] });
    expect(calls.map((c) => [c.op, c.ckn])).toEqual([['addCak', hex(K1.ckn)]]);
    const p = a.ports.get('a/eth1')!;
    // A policy change is no key change: a new runtime.
    await a.reconcile({
      revision: 2,
      ports: [base('a', 'f2', { pskKeys: chain(Date.now() - 1000), policy: PortPolicy.fromPartial({ keyServerPriority: 99 }) })],
    });
    expect(a.ports.get('a/eth1')).not.toBe(p);
    expect(a.ports.get('a/eth1')!.runtimeId).not.toBe(p.runtimeId);
    // Same fingerprint, same port: nothing is added twice.
    const q = a.ports.get('a/eth1')!;
    await a.reconcile({
      revision: 3,
      ports: [base('a', 'f2', { pskKeys: chain(Date.now() - 1000), policy: PortPolicy.fromPartial({ keyServerPriority: 99 }) })],
    });
    expect(a.ports.get('a/eth1')).toBe(q);
    expect(calls.filter((c) => c.op === 'addCak')).toHaveLength(2); // one per runtime
    // Leaving the channel (no psk): the port restarts without MKA.
    await a.reconcile({ revision: 4, ports: [base('a', 'f4', { psk: undefined, channelId: '' })] });
    expect(a.ports.get('a/eth1')).not.toBe(q);
    expect(a.ports.get('a/eth1')!.status().state).toBe(PortState.PORT_STATE_READY);
  });
});
