/** MKPDU encode+ICV and decode+ICV-verify throughput on one core (issue target ≥ 50,000/s each). */
import { deriveIck, deriveKek, verifyIcv, wrapKey } from '../src/mka/crypto.js';
import { fromHex } from '../src/common/hex.js';
import { decodeMkpdu, encodeMkpdu } from '../src/mka/mkpdu.js';
import { peerMkpdu } from '../test/support/mkpdu-fixtures.js';
import { bench, printResult } from './harness.js';

export function runMkpduBench(): void {
  const cak = fromHex('135bd758b0ee5c11c55ff6ab19fdb199');
  const ckn = fromHex('96437a93ccf10d9dfe347846cce52c7d');
  const ick = deriveIck(cak, ckn);
  // A typical key-server MKPDU: Basic, Live Peer List (1 peer), SAK Use, Distributed SAK.
  const pdu = peerMkpdu({ sci: { mac: fromHex('020000000001'), port: 1 }, actor: { mi: fromHex('0102030405060708090a0b0c'), mn: 1 }, ckn }, [
    { type: 'livePeers', keyServerSsci: 0, peers: [{ mi: fromHex('aabbccddeeff001122334455'), mn: 9 }] },
    {
      type: 'sakUse',
      plainTx: false,
      plainRx: false,
      delayProtect: false,
      reservedBit: false,
      hasKeys: true,
      latest: { an: 0, tx: true, rx: true, ki: { mi: fromHex('0102030405060708090a0b0c'), kn: 1 }, lowestPn: 1 },
      old: { an: 0, tx: false, rx: false, ki: { mi: new Uint8Array(12), kn: 0 }, lowestPn: 0 },
    },
    {
      type: 'distributedSak',
      an: 0,
      confidentialityOffset: 1,
      plain: false,
      kn: 1,
      cipherSuite: null,
      wrappedSak: wrapKey(deriveKek(cak, ckn), new Uint8Array(16)),
    },
  ]);
  const frame = encodeMkpdu(pdu, ick);
  console.log(`MKPDU of ${frame.length} octets (Basic, Live Peers, SAK Use, Distributed SAK)`);
  printResult(
    bench('MKPDU encode + ICV', () => {
      pdu.basic.actor.mn++;
      encodeMkpdu(pdu, ick);
    }),
    50_000,
  );
  printResult(
    bench('MKPDU decode + ICV verify', () => {
      const r = decodeMkpdu(frame);
      if (!r.ok || !verifyIcv(ick, r.value.signed, r.value.icv)) throw new Error('bench frame did not verify');
    }),
    50_000,
  );
}
