/**
 * Consistency of the committed wpa_supplicant captures with their sidecars
 * (no UML needed). Regenerate them with `npx tsx test/lab/capture/capture-wpa.ts`.
 */
import { createDecipheriv } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES_DIR, WPA_FIXTURES } from './capture-wpa.js';

interface Sidecar {
  cak: string;
  ckn: string;
  secured: boolean;
  participants: { mac: string; sci: string; priority: number }[];
  keys: { kek: string; generatedSaks: string[] }[];
  distributedSaks: { frame: number; keyNumber: number; wrapped: string; sak: string }[];
  tshark: { frames: number };
}

/** Frames of a classic little/big-endian pcap file (what tcpdump -w writes). */
function pcapFrames(buf: Buffer): Buffer[] {
  const magic = buf.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!le && buf.readUInt32BE(0) !== 0xa1b2c3d4 && buf.readUInt32BE(0) !== 0xa1b23c4d) {
    throw new Error(`not a pcap file (magic ${magic.toString(16)})`);
  }
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  expect(u32(20)).toBe(1); // LINKTYPE_ETHERNET
  const frames: Buffer[] = [];
  for (let off = 24; off < buf.length; ) {
    const capLen = u32(off + 8);
    frames.push(buf.subarray(off + 16, off + 16 + capLen));
    off += 16 + capLen;
  }
  return frames;
}

function unwrap(kekHex: string, wrappedHex: string): string {
  const kek = Buffer.from(kekHex, 'hex');
  const d = createDecipheriv(`id-aes${kek.length * 8}-wrap`, kek, Buffer.alloc(8, 0xa6));
  return Buffer.concat([d.update(Buffer.from(wrappedHex, 'hex')), d.final()]).toString('hex');
}

describe.each(WPA_FIXTURES)('fixture $name', (f) => {
  const sidecar = JSON.parse(readFileSync(join(FIXTURES_DIR, `${f.name}.json`), 'utf8')) as Sidecar;
  const frames = pcapFrames(readFileSync(join(FIXTURES_DIR, `${f.name}.pcap`)));

  it('matches the fixture definition', () => {
    expect(sidecar.cak).toBe(f.cak);
    expect(sidecar.ckn).toBe(f.ckn);
    expect(sidecar.participants).toHaveLength(f.peers);
    const priorities = sidecar.participants.map((p) => p.priority);
    expect(priorities).toEqual(f.priorities.length ? f.priorities : Array(f.peers).fill(255));
    if (f.requireSecured) expect(sidecar.secured).toBe(true);
  });

  it('holds only EAPOL-MKA frames (EtherType 0x888e, packet type 5) from the participants', () => {
    expect(frames).toHaveLength(sidecar.tshark.frames);
    const macs = new Set(sidecar.participants.map((p) => p.mac.replace(/:/g, '')));
    for (const frame of frames) {
      expect(frame.subarray(0, 6).toString('hex')).toBe('0180c2000003');
      expect(macs.has(frame.subarray(6, 12).toString('hex'))).toBe(true);
      expect(frame.readUInt16BE(12)).toBe(0x888e);
      expect(frame[15]).toBe(5); // EAPOL-MKA
    }
  });

  it('distributes SAKs that the logged KEK unwraps', () => {
    expect(sidecar.distributedSaks.length).toBeGreaterThan(0);
    for (const d of sidecar.distributedSaks) {
      expect(frames[d.frame - 1]!.toString('hex')).toContain(d.wrapped);
      expect(unwrap(sidecar.keys[0]!.kek, d.wrapped)).toBe(d.sak);
      expect(sidecar.keys.flatMap((k) => k.generatedSaks)).toContain(d.sak);
    }
  });
});
