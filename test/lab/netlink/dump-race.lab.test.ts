/**
 * Regression: SecY dumps (readPn, as the KaY driver does on every tick) issued while SA
 * operations are in flight on the same generic-netlink socket must all succeed — KernelSecy
 * serializes dumps with apply(). Before the fix, 399 of 400 dumps failed (EBUSY / unterminated
 * multipart).
 */
import { describe, expect, it } from 'vitest';
import { readOutJson, runLab } from '../uml.js';

describe('KernelSecy under concurrent dumps and SA operations (UML lab)', () => {
  it('every dump and every SA operation succeeds', async () => {
    const lab = await runLab({
      scenarios: [
        {
          name: 'dump-race',
          timeoutMs: 180_000,
          script:
            'lab_netns a\nlab_veth a va - vz\nip netns exec a node --import tsx "$REPO/test/lab/netlink/scenario-dump-race.ts" va 100 > "$OUT/result.json"',
        },
      ],
    });
    const s = lab.scenario('dump-race');
    expect(s.exitCode, s.stderr).toBe(0);
    const r = readOutJson<{ rounds: number; dumpsOk: number; errors: Record<string, number> }>(s, 'result.json');
    expect(r.errors).toEqual({});
    expect(r.dumpsOk).toBe(r.rounds * 3);
  }, 240_000);
});
