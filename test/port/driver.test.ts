/**
 * KayDriver and a SecY that refuses setCipherSuite (the Linux SecY does for offsets 30/50, and for
 * a suite other than the link's once SAs are installed): the refusal reaches the KaY through
 * secyFailed like any other refused action, and the MKPDUs and events of that step are not sent.
 */
import { describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../../src/common/log.js';
import type { KayOutput } from '../../src/mka/kay-types.js';
import type { SecyAction } from '../../src/mka/secy.js';
import { KayDriver, type KayLike } from '../../src/port/driver.js';
import { RecordingSecy } from '../../src/secy/recording.js';

class NoSuiteChangeSecy extends RecordingSecy {
  readonly applied: string[] = [];
  override async apply(a: SecyAction): Promise<void> {
    if (a.kind === 'setCipherSuite') throw new Error('EOPNOTSUPP: the kernel fixes the cipher suite at link creation');
    this.applied.push(a.kind);
    return super.apply(a);
  }
}

const out = (o: Partial<KayOutput>): KayOutput => ({ actions: [], frames: [], events: [], ...o });

/** A KaY whose start() switches the cipher suite and announces the step in an MKPDU. */
function stubKay() {
  const failed: { action: SecyAction; error: string }[] = [];
  const kay: KayLike = {
    start: () =>
      out({
        actions: [
          { kind: 'setCipherSuite', cipherSuite: 'GCM-AES-256', confidentialityOffset: 0 },
          { kind: 'setProtect', protectFrames: true, validate: 'strict' },
        ],
        frames: [Uint8Array.of(1)],
        events: [{ kind: 'keyServerElected', sci: '02000000000a0001', self: true }],
      }),
    receive: () => out({}),
    tick: () => out({}),
    nextDeadline: () => Infinity,
    forceRekey: () => out({}),
    secyFailed: (action, error) => {
      failed.push({ action, error });
      return out({ frames: [Uint8Array.of(2)] });
    },
    stop: () => out({}),
    status: () => ({}) as ReturnType<KayLike['status']>,
    counters: () => ({}) as ReturnType<KayLike['counters']>,
  };
  return { kay, failed };
}

describe('KayDriver: a refused setCipherSuite', () => {
  it('goes to kay.secyFailed, and that step sends no MKPDU and no KaY event', async () => {
    const { kay, failed } = stubKay();
    const secy = new NoSuiteChangeSecy();
    const sent: number[] = [];
    const link = { send: (f: Uint8Array) => void sent.push(f[0]!), onFrame: () => {}, close: () => {} };
    const driver = new KayDriver(kay, secy, link, silentLogger);
    const events: string[] = [];
    driver.on('event', (e: { kind: string }) => events.push(e.kind));
    driver.start();
    await driver.settled();
    expect(failed).toEqual([
      {
        action: { kind: 'setCipherSuite', cipherSuite: 'GCM-AES-256', confidentialityOffset: 0 },
        error: 'EOPNOTSUPP: the kernel fixes the cipher suite at link creation',
      },
    ]);
    expect(sent, 'only what the KaY sends instead (secyFailed), not the MKPDU of the refused step').toEqual([2]);
    expect(events).toEqual(['secyError']);
    expect(driver.secyErrors).toBe(1);
    expect(secy.applied).toEqual(['setProtect']);
    await driver.stop(false);
  });
});

describe('KayDriver: step timing in the log', () => {
  it('logs "first MKPDU sent" once, after the SecY actions and the send, and one debug line per step with action kinds only', async () => {
    let receive: (f: Uint8Array) => void = () => {};
    const order: string[] = [];
    const sak = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);
    const kay: KayLike = {
      ...stubKay().kay,
      start: () => out({ actions: [{ kind: 'setProtect', protectFrames: true, validate: 'strict' }], frames: [Uint8Array.of(1)] }),
      receive: () =>
        out({
          actions: [{ kind: 'installRxSa', sci: '02000000000b0001', an: 0, lowestPn: 1n, ki: '00'.repeat(16), sak }],
          frames: [Uint8Array.of(2)],
        }),
    };
    const secy = new (class extends RecordingSecy {
      override async apply(a: SecyAction): Promise<void> {
        order.push(`secy ${a.kind}`);
        return super.apply(a);
      }
    })();
    const link = {
      send: (f: Uint8Array) => void order.push(`send ${f[0]}`),
      onFrame: (cb: (f: Uint8Array) => void) => {
        receive = cb;
      },
      close: () => {},
    };
    const lines: Record<string, unknown>[] = [];
    const log = createLogger({}, { level: 'debug', write: (l) => lines.push(JSON.parse(l)) });
    const origInfo = log.info;
    log.info = (m, f) => {
      order.push(`log ${m}`);
      origInfo(m, f);
    };
    const driver = new KayDriver(kay, secy, link, log);
    driver.start();
    await driver.settled();
    receive(Uint8Array.of(9));
    await driver.settled();
    expect(order).toEqual(['secy setProtect', 'send 1', 'log first MKPDU sent', 'secy installRxSa', 'send 2']);
    const steps = lines.filter((l) => l.msg === 'mka step');
    expect(steps.map((l) => [l.trigger, l.actions, l.frames])).toEqual([
      ['start', ['setProtect'], 1],
      ['rx', ['installRxSa'], 1],
    ]);
    for (const l of steps) for (const k of ['kayMs', 'waitMs', 'secyMs', 'sendMs']) expect(typeof l[k]).toBe('number');
    expect(JSON.stringify(lines)).not.toMatch(/a0a1a2|160,161/);
    await driver.stop(false);
  });
});

describe('KayDriver.suspend (planned restart)', () => {
  it('sends the KaY suspension MKPDU, then detaches the SecY instead of closing it: every SA stays', async () => {
    const { Kay } = await import('../../src/mka/kay.js');
    const { decodeMkpdu, findSet } = await import('../../src/mka/mkpdu.js');
    const { lan } = await import('../mka/helpers.js');
    // a secured pair in the simulator gives a KaY with a live peer and keys
    const l = lan(2);
    l.startAll();
    expect(l.runUntilQuiescent(10_000)).toBe(true);
    const kay = l.member('b').kay as InstanceType<typeof Kay>;
    let now = l.now;
    const secy = new (class extends RecordingSecy {
      detached = false;
      async detach(): Promise<void> {
        this.detached = true;
      }
    })();
    const sent: Uint8Array[] = [];
    const link = { send: (f: Uint8Array) => void sent.push(f), onFrame: () => {}, close: () => {} };
    const driver = new KayDriver(kay, secy, link, silentLogger, () => now++);
    await driver.suspend(60);
    expect(secy.detached).toBe(true);
    expect(secy.closed).toBe(false);
    expect(sent).toHaveLength(1);
    const d = decodeMkpdu(sent[0]!);
    expect(d.ok).toBe(true);
    if (d.ok) {
      expect(findSet(d.value, 'xpn')?.suspendedFor).toBe(60);
      expect(findSet(d.value, 'sakUse')).toBeDefined();
    }
    // the peer keeps b (and its SAs) for the suspension, well past the life time
    l.inject(l.member('a'), sent[0]!);
    l.kill(l.member('b'));
    l.runFor(20_000);
    expect(l.member('a').kay.status().livePeers).toHaveLength(1);
  });
});
