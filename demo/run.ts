/**
 * `npm run demo`: boots the UML kernel lab and runs the whole-system scenario (demo/scenario.sh),
 * printing its timeline as it happens and a summary at the end. Exit status 0 when every step
 * passed. `runDemo()` is also what the demo's CI test calls.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REPO_ROOT, runLab, type LabResult, type ScenarioResult } from '../test/lab/uml.js';

export interface TimelineStep {
  t: number;
  step: string;
  ok: boolean;
  detail: string;
}

export interface DemoResult {
  ok: boolean;
  timeline: TimelineStep[];
  scenario: ScenarioResult;
  lab: LabResult;
}

const SCENARIO = join(REPO_ROOT, 'demo/scenario.sh');

function readTimeline(outDir: string): TimelineStep[] {
  const f = join(outDir, 'timeline.jsonl');
  if (!existsSync(f)) return [];
  return readFileSync(f, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as TimelineStep);
}

export function formatStep(s: TimelineStep): string {
  return `${s.t.toFixed(1).padStart(6)} s  ${s.ok ? 'ok  ' : 'FAIL'}  ${s.step.padEnd(17)} ${s.detail}`;
}

/** Runs the demo; `onStep` sees each timeline step as soon as the scenario writes it. */
export async function runDemo(onStep: (s: TimelineStep) => void = () => {}): Promise<DemoResult> {
  if (!existsSync(join(REPO_ROOT, 'dist/src/agent/managed/main.js'))) {
    throw new Error('dist/ is missing: run `npm run build` first (npm run demo does)');
  }
  let seen = 0;
  let outDir: string | undefined;
  const poll = setInterval(() => {
    if (!outDir) {
      // The harness creates .lab/run-<id>/demo/ at boot; follow the newest one.
      const runs = readdirSafe(join(REPO_ROOT, '.lab'))
        .filter((d) => d.startsWith('run-'))
        .sort();
      const last = runs.at(-1);
      if (last && existsSync(join(REPO_ROOT, '.lab', last, 'demo'))) outDir = join(REPO_ROOT, '.lab', last, 'demo');
      return;
    }
    const steps = readTimeline(outDir);
    for (; seen < steps.length; seen++) onStep(steps[seen]!);
  }, 250);
  let lab: LabResult;
  try {
    lab = await runLab({
      memMb: 1024,
      scenarios: [{ name: 'demo', timeoutMs: 300_000, script: `source ${SCENARIO}` }],
    });
  } finally {
    clearInterval(poll);
  }
  const scenario = lab.scenario('demo');
  const timeline = readTimeline(scenario.outDir);
  for (; seen < timeline.length; seen++) onStep(timeline[seen]!);
  const ok = scenario.exitCode === 0 && timeline.length > 0 && timeline.every((s) => s.ok);
  return { ok, timeline, scenario, lab };
}

function readdirSafe(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir) : [];
}

async function main(): Promise<number> {
  console.log('MACsec for NFV — whole-system demo in a User-Mode Linux kernel (Linux 6.1, macsec, OVS)');
  console.log('orchestrator (OSM LCM client) → OSM adapter → manager → agent → EAP-TLS + MKA with two VNFs\n');
  const res = await runDemo((s) => console.log(formatStep(s)));
  const s = res.scenario;
  console.log('');
  if (res.ok) {
    const secured = res.timeline.find((x) => x.step === 'secured');
    const ping = res.timeline.find((x) => x.step === 'ping');
    console.log(`summary: channel secured ${secured ? `${secured.t.toFixed(1)} s` : ''} after start; ${ping?.detail ?? ''}`);
    console.log(`all ${res.timeline.length} steps passed in ${(s.durationMs / 1000).toFixed(1)} s (UML boot ${((res.lab.bootMs ?? 0) / 1000).toFixed(1)} s)`);
  } else {
    console.log(
      `summary: FAILED (${
        res.timeline
          .filter((x) => !x.ok)
          .map((x) => x.step)
          .join(', ') || `scenario exit ${s.exitCode}${s.timedOut ? ', timed out' : ''}`
      })`,
    );
    if (s.stderr.trim()) console.log(`last scenario output:\n${s.stderr.trim().split('\n').slice(-15).join('\n')}`);
  }
  console.log(`logs, captures and certificates: ${s.outDir}`);
  return res.ok ? 0 : 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().then(
    (code) => process.exit(code),
    (e) => {
      console.error(`demo: ${(e as Error).message}`);
      process.exit(1);
    },
  );
}
