/**
 * The FrameLink contract: what ports rely on from every link (src/link/link.ts), written once
 * and run against each implementation (test/link/link.test.ts). Framework-free (node:assert), like the
 * SecY contract, so a lab scenario can run it against a link on a real interface too.
 */
import assert from 'node:assert/strict';
import { ethernetFrame } from '../../src/link/link.js';
import type { FrameLink } from '../../src/link/link.js';
import { PAE_GROUP_ADDRESS } from '../../src/mka/constants.js';
import type { ContractCase } from './secy-contract.js';

/** Three links on one LAN, fresh for each case; `close` releases whatever they share. */
export type LanMaker = () => Promise<{ links: [FrameLink, FrameLink, FrameLink]; close(): void | Promise<void> }>;

const SRC = Uint8Array.of(2, 0, 0, 0, 0, 0x0a);
const frame = (n: number) => ethernetFrame(PAE_GROUP_ADDRESS, SRC, 0x888e, Uint8Array.of(3, 5, 0, 1, n));
const hex = (f: Uint8Array) => Buffer.from(f).toString('hex');

function collect(l: FrameLink): string[] {
  const got: string[] = [];
  l.onFrame((f) => got.push(hex(f)));
  return got;
}

/** Waits until `cond` holds (frames may cross a socket), or fails after `ms`. */
async function until(cond: () => boolean, what: string, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** No more frames arrive for a while (what a link must not deliver). */
const quiet = () => new Promise((r) => setTimeout(r, 100));

export function linkContract(make: LanMaker): ContractCase[] {
  const c = (name: string, body: (links: [FrameLink, FrameLink, FrameLink]) => Promise<void>): ContractCase => ({
    name,
    run: async () => {
      const lan = await make();
      try {
        await body(lan.links);
      } finally {
        for (const l of lan.links) await l.close();
        await lan.close();
      }
    },
  });
  return [
    c('a group-addressed frame reaches every other link unchanged, never its sender', async ([a, b, c]) => {
      const [ga, gb, gc] = [collect(a), collect(b), collect(c)];
      await a.send(frame(1));
      await until(() => gb.length === 1 && gc.length === 1, 'delivery');
      await quiet();
      assert.deepEqual([ga, gb, gc], [[], [hex(frame(1))], [hex(frame(1))]]);
    }),
    c('frames arrive in the order they were sent', async ([a, b]) => {
      const gb = collect(b);
      for (let i = 0; i < 20; i++) await a.send(frame(i));
      await until(() => gb.length === 20, '20 frames');
      assert.deepEqual(
        gb,
        Array.from({ length: 20 }, (_, i) => hex(frame(i))),
      );
    }),
    c('a short or malformed frame is passed on as it is', async ([a, b]) => {
      const gb = collect(b);
      await a.send(Uint8Array.of(1, 2, 3));
      await until(() => gb.length === 1, 'the short frame');
      assert.deepEqual(gb, ['010203']);
    }),
    c('the receiver gets its own copy: the sender may reuse its buffer', async ([a, b]) => {
      const got: Uint8Array[] = [];
      b.onFrame((f) => got.push(f));
      const f = frame(7);
      const sent = a.send(f);
      f.fill(0);
      await sent;
      await until(() => got.length === 1, 'delivery');
      assert.equal(hex(got[0]!), hex(frame(7)));
    }),
    c('a closed link receives nothing and sends nothing; close is idempotent', async ([a, b, c]) => {
      const [gb, gc] = [collect(b), collect(c)];
      await b.close();
      await b.close();
      await a.send(frame(1));
      await b.send(frame(2));
      await until(() => gc.length >= 1, 'delivery to the open link');
      await quiet();
      assert.deepEqual([gb, gc], [[], [hex(frame(1))]]);
    }),
  ];
}
