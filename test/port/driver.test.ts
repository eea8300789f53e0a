/**
 * KayDriver and a SecY that refuses setCipherSuite (the Linux SecY does for offsets 30/50, and for
 * a suite other than the link's once SAs are installed): the refusal reaches the KaY through
 * secyFailed like any other refused action, and the MKPDUs and events of that step are not sent.
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/common/log.js';
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
