/**
 * Shared pieces of the agent lab tests: scenario wrappers around
 * test/lab/agent/agent-lib.sh and typed readers for what the scenarios write.
 */
import { expect } from 'vitest';
import type { PskPortStatus } from '../../../src/agent/standalone/agent.js';
import { type LabScenario, readOutJson, type ScenarioResult } from '../uml.js';
import { explain, readOut, scenarioOk } from '../scenario-checks.js';

/** Prefix of every agent scenario: strict-ish bash plus the agent helpers. */
export const AGENT_PRELUDE = 'source "$REPO/test/lab/agent/agent-lib.sh"\n';

export function agentScenario(name: string, script: string, timeoutMs: number, env: Record<string, string> = {}): LabScenario {
  return { name, script: AGENT_PRELUDE + script, timeoutMs, env };
}

/** Subset of `ip -s -j macsec show` (iproute2 6.1). */
export interface MacsecShow {
  ifname: string;
  cipher_suite: string;
  encrypt?: string;
  sci: string;
  sa_list: { an: number; pn?: number; active: boolean; OutPktsEncrypted?: number; OutPktsProtected?: number }[];
  rx_sc: { sci: string; sa_list: { an: number; pn?: number; active: boolean; InPktsOK?: number }[] }[];
  [k: string]: unknown;
}

export interface NsState {
  json: MacsecShow[];
  text: string;
  link: string;
}

export interface PingResult {
  from: string;
  to: string;
  ok: boolean;
  transmitted: number;
  received: number;
  output: string;
}

/** A port of the standalone agent's status file. */
export type { PskPortStatus };

export type Participant = { kind: 'ours'; status: PskPortStatus | null } | { kind: 'wpa'; securedLine: string; cipherLines: string; errorLines: string };

export interface PairResult {
  timing: { start: number; ready: number | null; rxSas: number | null; firstPing: number | null };
  pings: PingResult[];
  state: Record<string, NsState>;
  participants: Record<string, Participant>;
  [k: string]: unknown;
}

export { explain, readOut, scenarioOk };

export function readPair(s: ScenarioResult, file = 'result.json'): PairResult {
  return readOutJson<PairResult>(s, file);
}

/** Active RX SAs (count) on a namespace's macsec0. */
export function activeRxSas(ns: NsState): number {
  return ns.json
    .flatMap((l) => l.rx_sc ?? [])
    .flatMap((sc) => sc.sa_list ?? [])
    .filter((sa) => sa.active).length;
}

/** `ip -j macsec show` prints SCIs as hex numbers ("0x2000000000a0001"): back to 16 hex digits. */
export const normSci = (sci: string): string => sci.replace(/^0x/i, '').toLowerCase().padStart(16, '0');

/** SCIs (16 hex digits) of the RX SCs holding an active RX SA. */
export function rxSciWithActiveSa(ns: NsState): string[] {
  return ns.json
    .flatMap((l) => l.rx_sc ?? [])
    .filter((sc) => (sc.sa_list ?? []).some((sa) => sa.active))
    .map((sc) => normSci(sc.sci));
}

/** Asserts each ping passed with no loss. */
export function expectPingsClean(pings: PingResult[], count: number): void {
  for (const p of pings) {
    expect(p.ok, `ping ${p.from} -> ${p.to}:\n${p.output}`).toBe(true);
    expect(p.transmitted, `ping ${p.from} -> ${p.to}`).toBe(count);
    expect(p.received, `ping ${p.from} -> ${p.to}:\n${p.output}`).toBe(count);
  }
}

export function ours(p: Participant | undefined): PskPortStatus {
  expect(p?.kind).toBe('ours');
  const st = (p as { status: PskPortStatus | null }).status;
  expect(st, 'status file missing').not.toBeNull();
  return st!;
}

export const secs = (ms: number | null | undefined): string => (ms == null ? 'n/a' : `${(ms / 1000).toFixed(2)} s`);

/** The SAK in use: the KaY moves a key to oldKey once it transmits with it (RETIRE), so latestKey is often null. */
export const currentKey = (st: PskPortStatus) => st.kay.latestKey ?? st.kay.oldKey;
