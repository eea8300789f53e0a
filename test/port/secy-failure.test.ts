/**
 * Found in the UML lab (interop-wpa.lab.test.ts): when the SecY refuses to install a SAK (the
 * kernel answered EINVAL to "add RX SA" / "add TX SA"), the agent used to report sakInstalled
 * and "secured", and its MKPDUs told the key server it received with the key, so the key
 * server would transmit into a black hole.
 *
 * Now KayDriver hands each refused action to Kay.secyFailed() and drops the MKPDUs and events of
 * that step; the KaY drops the key, never reinstalls it, and reports no receive SA for it.
 */
import { describe, expect, it } from 'vitest';
import { KayDriver } from '../../src/port/driver.js';
import { MemoryHub } from '../../src/link/memory.js';
import { RecordingSecy } from '../../src/secy/recording.js';
import { createLogger } from '../../src/common/log.js';
import { Kay } from '../../src/mka/kay.js';
import type { SecyAction } from '../../src/mka/secy.js';

/** A SecY whose kernel refuses SAs, like Linux does for a key of the wrong length (EINVAL). */
class RefusingSecy extends RecordingSecy {
  override async apply(a: SecyAction): Promise<void> {
    if (a.kind === 'installRxSa' || a.kind === 'installTxSa') throw new Error(`${a.kind}: EINVAL`);
    if ((a.kind === 'enableRxSa' || a.kind === 'enableTxSa') && a.enable) throw new Error(`${a.kind}: ENODEV`);
    return super.apply(a);
  }
}

const CAK = Uint8Array.from(Buffer.from('00112233445566778899aabbccddeeff', 'hex'));
const CKN = Uint8Array.from(Buffer.from('6162636465666768', 'hex'));
const quiet = createLogger({}, { level: 'error', write: () => {} });

describe('SecY failures reach the KaY', () => {
  it('a participant whose SecY refused the SAK does not report secured, and the key server does not start transmitting', async () => {
    const hub = new MemoryHub();
    const mk = (mac: number, priority: number, secy: RecordingSecy) => {
      const kay = new Kay({ sci: { mac: Uint8Array.of(2, 0, 0, 0, 0, mac), port: 1 }, primary: { cak: CAK, ckn: CKN }, priority, helloTimeMs: 200 });
      const driver = new KayDriver(kay, secy, hub.link('lan'), quiet);
      const events: string[] = [];
      driver.on('event', (e: { kind: string; role?: string }) => events.push(e.role ? `${e.kind}:${e.role}` : e.kind));
      return { kay, driver, secy, events };
    };
    const ks = mk(0x0a, 16, new RecordingSecy());
    const bad = mk(0x0b, 32, new RefusingSecy());
    ks.driver.start();
    bad.driver.start();
    await new Promise((r) => setTimeout(r, 1500));
    const badEvents = [...bad.events];
    const ksSecured = ks.kay.status().secured;
    const badSecured = bad.kay.status().secured;
    const ksTx = [...ks.secy.txSas.values()].some((s) => s.enabled);
    await ks.driver.stop(false);
    await bad.driver.stop(false);

    // The failure is visible to the driver...
    expect(badEvents).toContain('secyError');
    // ...but must also be visible to the KaY:
    expect(badEvents, 'no sakInstalled for an SA the kernel refused').not.toContain('sakInstalled:rx');
    expect(badSecured, 'the refusing side must not report secured').toBe(false);
    expect(ksSecured && ksTx, 'the key server must not transmit with a key its peer cannot receive').toBe(false);
  });
});
