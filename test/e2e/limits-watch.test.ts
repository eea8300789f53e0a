/**
 * WatchEvents limits: streams per identity and in total are capped, the replay is sent lazily
 * under back-pressure (a stalled reader holds a bounded number of bytes however much is
 * retained), and a reader that stops reading is cut off with RESOURCE_EXHAUSTED telling it the
 * since_seq to resume from, which it really receives, and resuming from it loses nothing.
 * Real gRPC clients over mTLS on loopback; "stops reading" = the client stream is never consumed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { ManagerApi } from '../../src/control/client.js';
import { clientCredentials, serverCredentials } from '../../src/control/tls.js';
import { silentLogger } from '../../src/common/log.js';
import { EventType, type Event } from '../../src/control/gen/macsec/v1/manager.js';
import { Manager } from '../../src/manager/manager.js';
import { SqliteStore } from '../../src/manager/store/sqlite.js';
import { startManagerServer, type ManagerServer, type ManagerServerOptions } from '../../src/manager/server.js';
import { makePki, waitFor, type TestPki } from '../support/harness.js';

/** Resolves with the stream's error (or null if it keeps running for `ms`). */
const errorWithin = (s: ClientReadableStream<Event>, ms: number) =>
  new Promise<ServiceError | null>((resolve) => {
    const t = setTimeout(() => resolve(null), ms);
    s.on('error', (e: ServiceError) => {
      clearTimeout(t);
      resolve(e);
    });
  });

/** Resolves with the stream's first event (it is then established), and stops reading. */
const firstEvent = (s: ClientReadableStream<Event>) =>
  new Promise<Event>((resolve) =>
    s.once('data', (e: Event) => {
      s.pause();
      resolve(e);
    }),
  );

describe('WatchEvents limits', () => {
  let pki: TestPki;
  beforeAll(() => {
    pki = makePki();
  });
  afterAll(() => pki.cleanup());

  async function start(opts: ManagerServerOptions) {
    const store = new SqliteStore(':memory:', { create: true });
    const manager = new Manager(store, { id: 'mgr' });
    const srv: ManagerServer = await startManagerServer(manager, serverCredentials(pki.material('mgr')), '127.0.0.1:0', silentLogger, opts);
    const apis: ManagerApi[] = [];
    const api = (name: string) => {
      const a = new ManagerApi(`127.0.0.1:${srv.port}`, clientCredentials(pki.material(name), 'manager'), 10_000);
      apis.push(a);
      return a;
    };
    const publish = (n: number, size = 200) => {
      const out: Event[] = [];
      for (let i = 0; i < n; i++) out.push(manager.events.publish({ type: EventType.EVENT_TYPE_ERROR, agentId: 'a1', message: `e${i} ${'x'.repeat(size)}` }));
      return out;
    };
    return {
      manager,
      srv,
      api,
      publish,
      stop: () => {
        for (const a of apis) a.close();
        srv.forceShutdown();
        store.close();
      },
    };
  }

  it('caps streams per identity and in total (RESOURCE_EXHAUSTED), and a closed stream frees its slot', { timeout: 60_000 }, async () => {
    const m = await start({ watch: { maxStreamsPerPrincipal: 3, maxStreams: 5 } });
    try {
      m.publish(1);
      const bob = m.api('bob');
      const alice = m.api('alice');
      const bobs = [bob.watchEvents({}), bob.watchEvents({}), bob.watchEvents({})];
      await Promise.all(bobs.map(firstEvent));
      const e1 = await errorWithin(bob.watchEvents({}), 5000);
      expect(e1?.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(e1!.details).toMatch(/read-only:bob.*3/);
      const alices = [alice.watchEvents({}), alice.watchEvents({})];
      await Promise.all(alices.map(firstEvent));
      const e2 = await errorWithin(alice.watchEvents({}), 5000);
      expect(e2?.code).toBe(status.RESOURCE_EXHAUSTED);
      for (const s of bobs) s.on('error', () => {});
      bobs[0]!.cancel();
      await waitFor(async () => {
        const s = bob.watchEvents({});
        const r = await Promise.race([firstEvent(s).then(() => 'ok'), errorWithin(s, 5000).then(() => 'refused')]);
        if (r !== 'ok') return false;
        s.on('error', () => {});
        s.cancel();
        return true;
      }, 'slot freed');
      for (const s of [...bobs, ...alices]) {
        s.on('error', () => {});
        s.cancel();
      }
    } finally {
      m.stop();
    }
  });

  it('a stalled reader gets RESOURCE_EXHAUSTED with the since_seq to resume from, and loses nothing by resuming', { timeout: 60_000 }, async () => {
    const m = await start({ watch: { stallTimeoutMs: 1000 } });
    try {
      const bob = m.api('bob');
      const s = bob.watchEvents({});
      const e0 = m.publish(1)[0]!;
      // After the first event nothing consumes the stream any more, so the client's HTTP/2 window fills.
      expect((await firstEvent(s)).seq).toBe(e0.seq);
      const got: Event[] = [e0];
      const published = [e0, ...m.publish(4000)];
      await new Promise((r) => setTimeout(r, 3000)); // > stall timeout
      const done = errorWithin(s, 20_000);
      s.on('data', (e: Event) => got.push(e));
      s.resume();
      const err = await done;
      expect(err?.code).toBe(status.RESOURCE_EXHAUSTED);
      const resume = Number(/resume with since_seq=(\d+)/.exec(err!.details)?.[1]);
      expect(resume).toBe(got.at(-1)!.seq);
      expect(got.length).toBeLessThan(published.length); // it was cut off before the end
      expect(got.map((e) => e.seq)).toEqual(published.slice(0, got.length).map((e) => e.seq));
      // Resuming from there delivers exactly the rest.
      const rest: Event[] = [];
      const s2 = bob.watchEvents({ sinceSeq: resume });
      s2.on('data', (e: Event) => rest.push(e));
      s2.on('error', () => {});
      await waitFor(() => rest.length >= published.length - got.length, 'rest replayed');
      expect([...got, ...rest].map((e) => e.seq)).toEqual(published.map((e) => e.seq));
      s2.cancel();
    } finally {
      m.stop();
    }
  });

  it('a reader that falls behind the replay buffer is cut off with RESOURCE_EXHAUSTED saying events were dropped', { timeout: 60_000 }, async () => {
    const m = await start({ watch: { stallTimeoutMs: 600_000 } });
    try {
      const bob = m.api('bob');
      const s = bob.watchEvents({});
      const e0 = m.publish(1)[0]!;
      expect((await firstEvent(s)).seq).toBe(e0.seq);
      const published = m.publish(12_000, 50); // more than the 10,000 retained
      const got: Event[] = [e0];
      const done = errorWithin(s, 20_000);
      s.on('data', (e: Event) => got.push(e));
      s.resume();
      const err = await done;
      expect(err?.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(err!.details).toMatch(/dropped events up to seq \d+/);
      expect(Number(/resume with since_seq=(\d+)/.exec(err!.details)?.[1])).toBe(got.at(-1)!.seq);
      expect(got.length).toBeLessThan(published.length);
    } finally {
      m.stop();
    }
  });

  it('replays lazily: stalled readers of a full replay buffer hold a bounded number of bytes', { timeout: 60_000 }, async () => {
    const m = await start({ watch: { maxStreamsPerPrincipal: 20, maxQueuedBytes: 32 * 1024 } });
    try {
      m.publish(10_000, 300); // the whole retained buffer, ~3 MB
      const bob = m.api('bob');
      const streams = Array.from({ length: 20 }, () => bob.watchEvents({ sinceSeq: 0 }));
      for (const s of streams) s.on('error', () => {});
      await Promise.all(streams.map(firstEvent)); // each started, then nobody reads
      await new Promise((r) => setTimeout(r, 1500));
      const w = m.srv.watchStats();
      expect(w.streams).toBe(20);
      // Each stream holds at most its byte bound (plus one event), not its 3 MB replay.
      expect(w.queuedBytes).toBeLessThanOrEqual(20 * (32 * 1024 + 1024));
      for (const s of streams) s.cancel();
      await waitFor(() => m.srv.watchStats().streams === 0, 'streams released');
    } finally {
      m.stop();
    }
  });
});
