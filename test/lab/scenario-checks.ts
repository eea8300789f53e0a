/** Reading a lab scenario's output and failing with everything useful when it did not succeed. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { LabResult, ScenarioResult } from './uml.js';

/** A file the scenario wrote to $OUT, or `(no FILE)`. */
export function readOut(s: ScenarioResult, file: string): string {
  const p = join(s.outDir, file);
  return existsSync(p) ? readFileSync(p, 'utf8') : `(no ${file})`;
}

/** Everything useful to print when a scenario failed: its exit, stderr, stdout and the tails of `logs`. */
export function explain(s: ScenarioResult, logs: string[] = []): string {
  const parts = [
    `scenario ${s.name}: exit ${s.exitCode}${s.timedOut ? ' (timed out)' : ''}`,
    `stderr:\n${s.stderr.slice(-3000)}`,
    `stdout:\n${s.stdout.slice(-3000)}`,
  ];
  for (const l of logs) parts.push(`--- ${l} (tail) ---\n${readOut(s, l).slice(-4000)}`);
  return parts.join('\n');
}

/** The scenario ran to the end with exit 0; otherwise the test fails with `explain`. */
export function scenarioOk(lab: LabResult, name: string, logs: string[] = []): ScenarioResult {
  const s = lab.scenario(name);
  expect(s.ran, `scenario ${name} did not run`).toBe(true);
  expect(s.timedOut, explain(s, logs)).toBe(false);
  expect(s.exitCode, explain(s, logs)).toBe(0);
  return s;
}

/** One paced UDP stream as the lab's udp-stream.py sender and receiver report it. */
export interface UdpStream {
  sent: { sent: number; sendErrors: number; seconds: number };
  recv: { received: number; unique: number; duplicates: number; missing: number; gaps: [number, number][] };
}

/** Packets sent and never received (duplicates do not count). */
export const lostOf = (x: UdpStream): number => x.sent.sent - x.recv.unique;
