/**
 * Agent sessions without gRPC: pushes answered by StateAcks, commands by results, everything
 * failed when the stream goes (src/manager/sessions.ts); and the stream protocol's first steps
 * through a Manager on an in-memory store with a fake stream (src/manager/agent-stream.ts).
 */
import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { status } from '@grpc/grpc-js';
import { AgentMessage, CommandResult, Hello, type DesiredState, type ManagerMessage } from '../../src/control/gen/macsec/v1/agent.js';
import type { MacsecError } from '../../src/common/errors.js';
import { EventType } from '../../src/control/gen/macsec/v1/manager.js';
import { Manager } from '../../src/manager/manager.js';
import { AgentSession, Sessions, type AgentStream } from '../../src/manager/sessions.js';
import { SqliteStore } from '../../src/manager/store/sqlite.js';

class FakeStream extends EventEmitter implements AgentStream {
  readonly written: ManagerMessage[] = [];
  readonly errors: Array<{ code: number; details: string }> = [];
  ended = false;
  write(m: ManagerMessage): boolean {
    this.written.push(m);
    return true;
  }
  end(): void {
    this.ended = true;
  }
  override emit(event: string, ...args: unknown[]): boolean {
    if (event === 'error' && !(args[0] instanceof Error)) {
      // The manager refusing the stream (a grpc status), not the transport failing.
      this.errors.push(args[0] as { code: number; details: string });
      return true;
    }
    return super.emit(event, ...args);
  }
  getPeer(): string {
    return 'ipv4:127.0.0.1:1';
  }
}

const hello = (agentId: string) => Hello.fromPartial({ agentId, version: '1', capabilities: ['psk'], interfaces: [{ name: 'eth1', mac: '' }], bootId: 'b' });
const desired = (revision: number): DesiredState => ({ revision, ports: [] });
const rejection = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e as MacsecError,
  );

describe('AgentSession', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('numbers pushes, resolves every one up to the acknowledged revision, and ignores revisions it never sent', async () => {
    const stream = new FakeStream();
    const s = new AgentSession('a1', stream, hello('a1'), 0, 'peer');
    const done: number[] = [];
    const p1 = s.push(desired, 1000).then(() => done.push(1));
    const p2 = s.push(desired, 1000).then(() => done.push(2));
    expect(stream.written.map((m) => m.desired?.revision)).toEqual([1, 2]);
    s.acknowledge(1);
    await p1;
    expect(done).toEqual([1]);
    s.acknowledge(5); // never sent on this stream (an ack meant for another stream, e.g. the agent's previous replica): ignored
    await Promise.resolve();
    expect(done).toEqual([1]);
    expect(s.ackedRevision).toBe(1);
    s.acknowledge(2);
    await p2;
    expect(done).toEqual([1, 2]);
    expect(s.ackedRevision).toBe(2);
    s.acknowledge(1); // an older ack changes nothing
    expect(s.ackedRevision).toBe(2);
  });

  it('fails a push that is not acknowledged in time with DEADLINE_EXCEEDED', async () => {
    const s = new AgentSession('a1', new FakeStream(), hello('a1'), 0, 'peer');
    const err = rejection(s.push(desired, 500));
    await vi.advanceTimersByTimeAsync(500);
    expect((await err)?.code).toBe('deadline_exceeded');
    expect((await err)?.message).toBe("agent 'a1' did not acknowledge desired state 1 within 500 ms");
  });

  it('matches command results by request id and ignores results nobody waits for', async () => {
    const stream = new FakeStream();
    const s = new AgentSession('a1', stream, hello('a1'), 0, 'peer');
    const r = s.command('m-1', { forceRekey: { portId: 'a1/eth1' } }, 1000);
    expect(stream.written).toEqual([{ command: { requestId: 'm-1', forceRekey: { portId: 'a1/eth1' } } }]);
    s.result(CommandResult.fromPartial({ requestId: 'm-9', ok: false }));
    s.result(CommandResult.fromPartial({ requestId: 'm-1', ok: true }));
    expect((await r).ok).toBe(true);
    const late = rejection(s.command('m-2', { forceRekey: { portId: 'a1/eth1' } }, 1000));
    await vi.advanceTimersByTimeAsync(1000);
    expect((await late)?.code).toBe('deadline_exceeded');
    s.result(CommandResult.fromPartial({ requestId: 'm-2', ok: true })); // too late: no effect, no throw
  });

  it('fails everything pending with UNAVAILABLE when closed, and sends nothing after', async () => {
    const stream = new FakeStream();
    const s = new AgentSession('a1', stream, hello('a1'), 0, 'peer');
    const push = rejection(s.push(desired, 1000));
    const cmd = rejection(s.command('m-1', { forceRekey: { portId: 'a1/eth1' } }, 1000));
    s.close('stream ended');
    for (const e of [await push, await cmd]) {
      expect(e?.code).toBe('unavailable');
      expect(e?.message).toBe('agent a1 disconnected (stream ended)');
    }
    const before = stream.written.length;
    s.send({ heartbeat: { timeMs: 1 } });
    expect(stream.written).toHaveLength(before);
  });
});

describe('Sessions', () => {
  it('builds each push for its revision, numbers commands per manager, and refuses agents that are away', async () => {
    const built: Array<[string, number]> = [];
    const sessions = new Sessions('mgr', 1000, (agentId, revision) => (built.push([agentId, revision]), desired(revision)));
    expect((await rejection(sessions.push('a1')))?.code).toBe('unavailable');
    const stream = new FakeStream();
    const s = new AgentSession('a1', stream, hello('a1'), 0, 'peer');
    sessions.add(s);
    const p = sessions.push('a1');
    expect(built).toEqual([['a1', 1]]);
    s.acknowledge(1);
    await p;
    const cmd = rejection(sessions.command(s, { forceRekey: { portId: 'a1/eth1' } }));
    expect(stream.written.at(-1)?.command?.requestId).toBe('mgr-1');
    s.close('test');
    expect((await cmd)?.code).toBe('unavailable');
  });

  it('does not remove a session that a newer one of the same agent replaced', () => {
    const sessions = new Sessions('mgr', 1000, (_a, r) => desired(r));
    const old = new AgentSession('a1', new FakeStream(), hello('a1'), 0, 'peer');
    const next = new AgentSession('a1', new FakeStream(), hello('a1'), 0, 'peer');
    sessions.add(old);
    sessions.add(next);
    expect(sessions.remove(old)).toBe(false);
    expect(sessions.get('a1')).toBe(next);
    expect(sessions.remove(next)).toBe(true);
    expect(sessions.ids()).toEqual([]);
  });
});

describe('agent stream protocol', () => {
  let m: Manager;
  beforeEach(() => {
    m = new Manager(new SqliteStore(':memory:', { create: true }), { id: 'mgr', ackTimeoutMs: 1000, helloTimeoutMs: 1000 });
  });
  afterEach(() => {
    m.stop();
    m.store.close();
  });

  it('refuses a stream whose first message is not Hello, and a Hello claiming another identity', () => {
    const first = new FakeStream();
    m.attachAgent('a1', first);
    first.emit('data', AgentMessage.fromPartial({ heartbeat: { timeMs: 1 } }));
    expect(first.errors).toEqual([{ code: status.FAILED_PRECONDITION, details: 'the first message on an agent stream must be Hello' }]);

    const spoof = new FakeStream();
    m.attachAgent('a1', spoof);
    spoof.emit('data', AgentMessage.fromPartial({ hello: hello('a2') }));
    expect(spoof.errors.map((e) => e.code)).toEqual([status.PERMISSION_DENIED]);
    expect(m.store.listAgents()).toEqual([]); // nothing recorded
    expect(m.connectedAgentIds()).toEqual([]);
  });

  it('welcomes a matching Hello with the store id, pushes the desired state and forgets the agent when the stream ends', () => {
    const stream = new FakeStream();
    m.attachAgent('a1', stream);
    stream.emit('data', AgentMessage.fromPartial({ hello: hello('a1') }));
    expect(stream.errors).toEqual([]);
    expect(stream.written[0]?.welcome).toEqual({ managerId: 'mgr', heartbeatIntervalMs: 15_000, storeId: m.store.storeId });
    expect(stream.written[1]?.desired).toEqual({ revision: 1, ports: [] });
    expect(m.getAgent('a1')).toMatchObject({ id: 'a1', connected: true, peerAddress: 'ipv4:127.0.0.1:1', capabilities: ['psk'] });
    stream.emit('end');
    expect(m.connectedAgentIds()).toEqual([]);
    expect(m.getAgent('a1').connected).toBe(false);
  });

  it('republishes known agent event kinds only; an inherited property name (constructor, toString) is no kind', () => {
    const stream = new FakeStream();
    m.attachAgent('a1', stream);
    stream.emit('data', AgentMessage.fromPartial({ hello: hello('a1') }));
    const seen: unknown[] = [];
    const off = m.events.subscribe((e) => seen.push(e.type));
    for (const kind of ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'sakInstalled', 'peerLive']) {
      stream.emit('data', AgentMessage.fromPartial({ event: { portId: '', kind, message: '', timeMs: 1 } }));
    }
    off();
    expect(seen).toEqual([EventType.EVENT_TYPE_PEER_LIVE]);
  });

  it('refuses an agent that sends no Hello in time', async () => {
    vi.useFakeTimers();
    try {
      const stream = new FakeStream();
      m.attachAgent('a1', stream);
      await vi.advanceTimersByTimeAsync(1000);
      expect(stream.errors).toEqual([{ code: status.DEADLINE_EXCEEDED, details: 'no Hello within 1000 ms' }]);
    } finally {
      vi.useRealTimers();
    }
  });
});
