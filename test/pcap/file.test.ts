import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PcapError, readCapture, writePcap } from '../../src/pcap/file.js';
import { toHex } from '../../src/common/hex.js';

const dir = mkdtempSync(join(tmpdir(), 'pcapfile-'));
const frames = [
  { time: 1700000000.25, data: Uint8Array.from({ length: 64 }, (_, i) => i) },
  { time: 1700000001.5, data: Uint8Array.from({ length: 99 }, (_, i) => 255 - i) },
];

describe('capture files', () => {
  it('reads back what it writes', () => {
    const back = readCapture(writePcap(frames));
    expect(back.map((f) => [f.index, f.time, toHex(f.data)])).toEqual(frames.map((f, i) => [i + 1, f.time, toHex(f.data)]));
  });

  // editcap (Wireshark) is the independent writer: pcapng, nanosecond pcap.
  for (const [name, args] of [
    ['pcapng', ['-F', 'pcapng']],
    ['nanosecond pcap', ['-F', 'nsecpcap']],
  ] as const) {
    it(`reads ${name} written by editcap`, () => {
      const src = join(dir, 'in.pcap');
      const dst = join(dir, `out-${name.replace(/\s/g, '')}`);
      writeFileSync(src, writePcap(frames));
      execFileSync('editcap', [...args, src, dst]);
      const back = readCapture(readFileSync(dst));
      expect(back.map((f) => toHex(f.data))).toEqual(frames.map((f) => toHex(f.data)));
      expect(back[1]!.time).toBeCloseTo(frames[1]!.time, 5);
    });
  }

  it('rebuilds Ethernet from Linux cooked (SLL) captures with the PAE group address', () => {
    // SLL header: packet type, ARPHRD_ETHER, address length 6, address (8 octets), protocol.
    const sll = Uint8Array.from([0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 9, 0, 0, 0x88, 0x8e, 3, 5, 0, 0]);
    const file = writePcap([{ time: 1, data: sll }]);
    new DataView(file.buffer).setUint32(20, 113, true); // LINKTYPE_LINUX_SLL
    const eth = readCapture(file)[0]!.data;
    expect(toHex(eth)).toBe('0180c2000003' + '020000000009' + '888e03050000');
    // tshark, an independent reader, agrees on what the file holds
    const path = join(dir, 'sll.pcap');
    writeFileSync(path, file);
    const out = execFileSync('tshark', ['-r', path, '-T', 'fields', '-e', 'sll.src.eth', '-e', 'eapol.type']).toString();
    expect(out.trim()).toBe('02:00:00:00:00:09\t5');
  });

  it('rejects non-captures and truncation with a clear error', () => {
    expect(() => readCapture(new TextEncoder().encode('plain text file'))).toThrow(PcapError);
    expect(() => readCapture(new TextEncoder().encode('plain text file'))).toThrow(/not a pcap/);
    const p = writePcap(frames);
    expect(() => readCapture(p.subarray(0, p.length - 5))).toThrow(/frame 2: record data is truncated/);
  });
});
