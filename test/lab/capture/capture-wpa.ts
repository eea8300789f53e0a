/**
 * Regenerates the wpa_supplicant 2.10 MKA capture fixtures in test/support/fixtures/:
 *
 *   npx tsx test/lab/capture/capture-wpa.ts [fixture-name ...]
 *
 * Each fixture is one lab scenario (test/lab/capture/wpa-mka.sh) that runs
 * real wpa_supplicant peers inside UML, captures EAPOL with tcpdump and writes
 * a JSON sidecar from what the kernel and the peers actually did. This script
 * then checks the capture with tshark on the host (frames dissect as
 * EAPOL-MKA, a Distributed SAK is present, nothing is malformed), adds those
 * counts to the sidecar and copies both files into test/support/fixtures/.
 */
import { execFileSync } from 'node:child_process';
import { createDecipheriv } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT, runLab, type LabScenario, type ScenarioResult } from '../uml.js';

export const FIXTURES_DIR = join(REPO_ROOT, 'test/support/fixtures');
const SCENARIO_SCRIPT = join(REPO_ROOT, 'test/lab/capture/wpa-mka.sh');

export interface WpaFixture {
  /** Base name of <name>.pcap / <name>.json in test/support/fixtures/. */
  name: string;
  peers: number;
  topology: 'veth' | 'bridge';
  /** Test values, not secrets. */
  cak: string;
  ckn: string;
  /** mka_priority per peer; empty = wpa_supplicant default (255). */
  priorities: number[];
  /** macsec_csindex to request (dropped, with a note, if wpa_supplicant rejects it). */
  csindex?: number;
  durationSec: number;
  /** Treat an unsecured result as a failure (see test/support/fixtures/README.md for 3-party). */
  requireSecured: boolean;
}

const CAK_128 = '544d4ddd2b1f97084673d669d1080cb1';
const CAK_256 = 'aeca9a26b3fb54fc9f4395e56e3528377d0ead38b6bdd0ba601bf776cd5ccaa8';
const CKN = '24c1822a2066e5ca1fc54f2c0a11e7aa';
const CKN_256 = '8b169a377598c5763def4e95265c3279';

export const WPA_FIXTURES: WpaFixture[] = [
  // Distinct priorities: p1 (16) is always the key server.
  {
    name: 'wpa-2party',
    peers: 2,
    topology: 'veth',
    cak: CAK_128,
    ckn: CKN,
    priorities: [16, 32],
    durationSec: 15,
    requireSecured: true,
  },
  // Default priorities: the lowest SCI (p1) wins. wpa_supplicant 2.10 sometimes
  // re-keys here and then misses RX SAs, so "secured" is recorded, not required.
  {
    name: 'wpa-3party',
    peers: 3,
    topology: 'bridge',
    cak: CAK_128,
    ckn: CKN,
    priorities: [],
    durationSec: 20,
    requireSecured: false,
  },
  {
    name: 'wpa-2party-256',
    peers: 2,
    topology: 'veth',
    cak: CAK_256,
    ckn: CKN_256,
    priorities: [16, 32],
    csindex: 1, // GCM-AES-256 in wpa_supplicant's cipher suite table
    durationSec: 15,
    requireSecured: true,
  },
];

/** The lab scenario that produces one fixture. */
export function wpaScenario(f: WpaFixture): LabScenario {
  return {
    name: f.name,
    script: `source ${JSON.stringify(SCENARIO_SCRIPT)}`,
    timeoutMs: (f.durationSec + 45) * 1000,
    env: {
      WPA_FIXTURE: f.name,
      WPA_PEERS: String(f.peers),
      WPA_TOPOLOGY: f.topology,
      WPA_CAK: f.cak,
      WPA_CKN: f.ckn,
      WPA_PRIORITIES: f.priorities.join(' '),
      WPA_CSINDEX: f.csindex === undefined ? '' : String(f.csindex),
      WPA_DURATION: String(f.durationSec),
    },
  };
}

// --- tshark check -----------------------------------------------------------------

export interface DistributedSak {
  /** First frame (1-based) that distributes this key number. */
  frame: number;
  keyNumber: number;
  an: number;
  /** AES Key Wrap of the SAK as sent (hex). */
  wrapped: string;
}

export interface TsharkSummary {
  frames: number;
  mkaFrames: number;
  distributedSakFrames: number;
  malformedFrames: number;
  /** Source MACs of MKPDUs that carry a Distributed SAK. */
  sakDistributors: string[];
  eapolVersions: number[];
  distributedSaks: DistributedSak[];
}

function tsharkFields(pcap: string, filter: string, fields: string[]): string[][] {
  const args = ['-r', pcap, '-T', 'fields', '-E', 'separator=\t'];
  if (filter) args.push('-Y', filter);
  for (const f of fields) args.push('-e', f);
  const out = execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('\t'));
}

export function summarizeCapture(pcap: string): TsharkSummary {
  const all = tsharkFields(pcap, '', ['frame.number', 'eapol.version']);
  const mka = tsharkFields(pcap, 'mka', ['frame.number']);
  const sak = tsharkFields(pcap, 'mka.distributed_sak_set', ['eth.src', 'frame.number', 'mka.key_number', 'mka.distributed_an', 'mka.aes_key_wrap_sak']);
  const malformed = tsharkFields(pcap, '_ws.malformed || _ws.expert.severity >= error', ['frame.number']);
  return {
    frames: all.length,
    mkaFrames: mka.length,
    distributedSakFrames: sak.length,
    malformedFrames: malformed.length,
    sakDistributors: [...new Set(sak.map((r) => r[0]!))].sort(),
    eapolVersions: [...new Set(all.map((r) => Number(r[1])))].sort(),
    distributedSaks: uniqueByKeyNumber(
      sak.map(([, frame, kn, an, wrapped]) => ({
        frame: Number(frame),
        keyNumber: Number.parseInt(kn!, 16),
        an: Number(an),
        wrapped: wrapped!.replace(/:/g, ''),
      })),
    ),
  };
}

/** The key server repeats a Distributed SAK until acknowledged; keep the first per key number. */
function uniqueByKeyNumber(saks: DistributedSak[]): DistributedSak[] {
  const seen = new Map<number, DistributedSak>();
  for (const s of saks) if (!seen.has(s.keyNumber)) seen.set(s.keyNumber, s);
  return [...seen.values()];
}

/** RFC 3394 AES Key Unwrap (AES-128 or AES-256 by KEK length). */
function aesKeyUnwrap(kekHex: string, wrappedHex: string): string {
  const kek = Buffer.from(kekHex, 'hex');
  const iv = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');
  const d = createDecipheriv(`id-aes${kek.length * 8}-wrap`, kek, iv);
  return Buffer.concat([d.update(Buffer.from(wrappedHex, 'hex')), d.final()]).toString('hex');
}

function checkSummary(name: string, s: TsharkSummary): string[] {
  const problems: string[] = [];
  if (s.frames === 0) problems.push('capture is empty');
  if (s.mkaFrames !== s.frames) problems.push(`${s.frames - s.mkaFrames} frames do not dissect as EAPOL-MKA`);
  if (s.distributedSakFrames === 0) problems.push('no MKPDU carries a Distributed SAK');
  if (s.malformedFrames > 0) problems.push(`${s.malformedFrames} malformed frames`);
  return problems.map((p) => `${name}: ${p}`);
}

// --- main -------------------------------------------------------------------------

interface Sidecar {
  secured: boolean;
  notes: string[];
  keys: { name: string; ick: string; kek: string; generatedSaks: string[] }[];
  [key: string]: unknown;
}

/**
 * Unwrap every distributed SAK with the KEK wpa_supplicant logged and check it
 * against the SAKs the key server logged, in key-number order. This proves the
 * sidecar's keys belong to the capture.
 */
function unwrapSaks(name: string, sidecar: Sidecar, saks: DistributedSak[]): { saks: (DistributedSak & { sak: string })[]; problems: string[] } {
  const problems: string[] = [];
  const kek = sidecar.keys[0]?.kek ?? '';
  const generated = sidecar.keys.flatMap((k) => k.generatedSaks);
  const unwrapped = saks.map((s) => {
    let sak = '';
    try {
      sak = aesKeyUnwrap(kek, s.wrapped);
    } catch (e) {
      problems.push(`${name}: SAK KN ${s.keyNumber} does not unwrap with the logged KEK (${String(e)})`);
    }
    if (sak && !generated.includes(sak)) problems.push(`${name}: SAK KN ${s.keyNumber} is not one the key server logged`);
    return { ...s, sak };
  });
  return { saks: unwrapped, problems };
}

/** Verify one scenario's outputs and copy them into test/support/fixtures/. Returns problems. */
function publish(f: WpaFixture, result: ScenarioResult): string[] {
  const pcap = join(result.outDir, `${f.name}.pcap`);
  const json = join(result.outDir, `${f.name}.json`);
  if (!existsSync(pcap) || !existsSync(json)) {
    return [
      `${f.name}: scenario wrote no ${existsSync(pcap) ? 'JSON' : 'pcap'} ` +
        `(exit ${result.exitCode}, timedOut ${result.timedOut}); stderr tail:\n${result.stderr}`,
    ];
  }
  const sidecar = JSON.parse(readFileSync(json, 'utf8')) as Sidecar;
  const { distributedSaks, ...tshark } = summarizeCapture(pcap);
  const unwrapped = unwrapSaks(f.name, sidecar, distributedSaks);
  const problems = [...checkSummary(f.name, { ...tshark, distributedSaks }), ...unwrapped.problems];
  if (!sidecar.secured) {
    const msg = `${f.name}: not secured (${sidecar.notes.join('; ')})`;
    if (f.requireSecured) problems.push(msg);
    else console.warn(`warning: ${msg}`);
  }

  copyFileSync(pcap, join(FIXTURES_DIR, `${f.name}.pcap`));
  const full = {
    ...sidecar,
    distributedSaks: unwrapped.saks,
    tshark: { ...tshark, checkedWith: tsharkVersion() },
  };
  writeFileSync(join(FIXTURES_DIR, `${f.name}.json`), `${JSON.stringify(full, null, 2)}\n`);
  console.log(
    `${f.name}: ${tshark.frames} frames, ${tshark.distributedSakFrames} with Distributed SAK, ` +
      `secured=${sidecar.secured}, key server(s) ${tshark.sakDistributors.join(', ')}`,
  );
  return problems;
}

function tsharkVersion(): string {
  const out = execFileSync('tshark', ['-v'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return out.split('\n')[0]!.trim();
}

export async function captureWpaFixtures(names: string[] = []): Promise<string[]> {
  const selected = names.length ? WPA_FIXTURES.filter((f) => names.includes(f.name)) : WPA_FIXTURES;
  const unknown = names.filter((n) => !WPA_FIXTURES.some((f) => f.name === n));
  if (unknown.length) throw new Error(`unknown fixture(s) ${unknown.join(', ')}`);

  const lab = await runLab({ scenarios: selected.map(wpaScenario) });
  console.log(`lab run ${lab.runDir} (boot ${lab.bootMs} ms, total ${lab.totalMs} ms)`);
  return selected.flatMap((f) => publish(f, lab.scenario(f.name)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const problems = await captureWpaFixtures(process.argv.slice(2));
  if (problems.length) {
    console.error(`fixtures written, but with problems:\n- ${problems.join('\n- ')}`);
    process.exitCode = 1;
  }
}
