/**
 * EapolLink on real interfaces: a veth pair between two network namespaces
 * that this test creates (host kernel; no macsec needed). Nothing touches
 * pre-existing interfaces.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../../..');
const SCRIPT = join(REPO, 'test/lab/link/scenario-eapol.ts');
const tag = `eap${process.pid % 100000}`;
const NS_A = `${tag}a`;
const NS_B = `${tag}b`;
const MAC_A = '02:00:00:00:01:0a';
const MAC_B = '02:00:00:00:01:0b';
const ip = (...args: string[]) => execFileSync('ip', args, { encoding: 'utf8' });

interface Result {
  role: string;
  mac: string;
  destination: string;
  filter: string;
  received: string[];
  errors: string[];
  stats: { rxFrames: number; txFrames: number; txErrors: number; callbackErrors: number };
  allmultiBefore: boolean;
  allmultiOpen: boolean;
  allmultiAfter: boolean;
}

function runSide(ns: string, args: string[], readyLine?: string): { done: Promise<number>; ready: Promise<void>; log: () => string } {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', SCRIPT, ...args], { cwd: REPO });
  let out = '';
  let readyResolve!: () => void;
  const ready = new Promise<void>((r) => (readyResolve = r));
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (readyLine && out.includes(readyLine)) readyResolve();
  });
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  if (!readyLine) readyResolve();
  const done = new Promise<number>((res) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      readyResolve();
      res(code ?? -1);
    });
  });
  return { done, ready, log: () => out };
}

async function exchange(dir: string, name: string, extra: string[] = []): Promise<{ a: Result; b: Result; sent: Record<string, string>; ms: number }> {
  const t0 = Date.now();
  const outA = join(dir, `${name}-a.json`);
  const outB = join(dir, `${name}-b.json`);
  const b = runSide(NS_B, ['recv', 'vb', MAC_A, outB, ...extra], 'READY');
  await b.ready;
  const a = runSide(NS_A, ['send', 'va', MAC_B, outA, ...extra]);
  const [codeA, codeB] = await Promise.all([a.done, b.done]);
  expect(codeA, a.log()).toBe(0);
  expect(codeB, b.log()).toBe(0);
  return {
    a: JSON.parse(readFileSync(outA, 'utf8')) as Result,
    b: JSON.parse(readFileSync(outB, 'utf8')) as Result,
    sent: JSON.parse(readFileSync(`${outA}.sent.json`, 'utf8')) as Record<string, string>,
    ms: Date.now() - t0,
  };
}

describe('EapolLink over a veth pair between two namespaces', () => {
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'eapol-link-'));
    ip('netns', 'add', NS_A);
    ip('netns', 'add', NS_B);
    ip('-n', NS_A, 'link', 'add', 'va', 'address', MAC_A, 'type', 'veth', 'peer', 'name', 'vb', 'address', MAC_B, 'netns', NS_B);
    ip('-n', NS_A, 'link', 'set', 'va', 'up');
    ip('-n', NS_B, 'link', 'set', 'vb', 'up');
  });

  afterAll(() => {
    for (const ns of [NS_A, NS_B]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // already gone
      }
    }
  });

  it('PAE group and unicast EAPOL frames pass both ways; non-EAPOL and foreign unicast do not', async () => {
    const { a, b, sent, ms } = await exchange(dir, 'group');
    console.log(`group exchange: ${ms} ms (two node processes)`);
    expect(b.mac).toBe(MAC_B);
    expect(a.destination).toBe('01:80:c2:00:00:03');
    expect(b.filter).toBe(`ether proto 0x888e and not ether src ${MAC_B} and (ether dst ${MAC_B} or ether dst 01:80:c2:00:00:03)`);

    // B got exactly the EAPOL frames addressed to it or the group, byte for byte, incl. the short one
    expect(b.received).toEqual([sent['eapol-to-group'], sent['eapol-to-peer-unicast'], sent['eapol-short'], sent['eapol-receiver-throws']]);
    // a throwing receiver is reported, the link keeps going
    expect(b.stats.callbackErrors).toBe(1);
    expect(b.errors).toEqual([expect.stringContaining('frame receiver threw: receiver bug on purpose')]);

    // A got B's unicast answers (one per EAPOL frame B received) and none of its own frames
    expect(a.received).toHaveLength(4);
    for (const f of a.received) {
      expect(f.slice(0, 12)).toBe(MAC_A.replaceAll(':', ''));
      expect(f.slice(12, 24)).toBe(MAC_B.replaceAll(':', ''));
      expect(f.slice(24, 28)).toBe('888e');
    }
    expect(a.stats.txFrames).toBe(7);
    expect(a.stats.txErrors).toBe(0);

    // allmulticast is switched on while open and restored on close
    expect(b.allmultiBefore).toBe(false);
    expect(b.allmultiOpen).toBe(true);
    expect(b.allmultiAfter).toBe(false);
  });

  it('a configured group address replaces the PAE group', async () => {
    const { a, b, sent } = await exchange(dir, 'custom', ['--dest', '01:80:c2:00:00:00']);
    expect(a.destination).toBe('01:80:c2:00:00:00');
    // A sends its "group" frame to 01:80:c2:00:00:00 and B, configured the same, receives it;
    // A's frame to the PAE group is EtherType 0x88b5 and still not delivered.
    expect(b.received[0]).toBe(sent['eapol-to-group']);
    expect(sent['eapol-to-group']!.slice(0, 12)).toBe('0180c2000000');
    expect(b.received).not.toContain(sent['not-eapol-to-group']);
    expect(b.received).not.toContain(sent['eapol-to-other-unicast']);
  });

  it('the interface MAC is looked up, and opening a missing interface fails cleanly', async () => {
    const out = execFileSync(
      'ip',
      [
        'netns',
        'exec',
        NS_A,
        process.execPath,
        '--import',
        'tsx',
        '-e',
        "import('./src/link/pcap.js').then(async (m) => { try { await m.EapolLink.open('nope0'); console.log('opened?!'); } catch (e) { console.log(e.name + ': ' + e.message); } })",
      ],
      { cwd: REPO, encoding: 'utf8' },
    );
    expect(out.trim()).toBe('MacsecNetlinkError: look up link nope0: ENODEV');
  });
});
