/**
 * Host-side pieces of the EAP/MKA agent lab tests: a test PKI and configurations written where
 * the UML guest can read them (under <repo>/.lab, not /tmp, which is guest-private), scenario
 * wrappers and readers for what the scenarios write.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { REPO_ROOT, readOutJson, type LabScenario, type ScenarioResult } from '../uml.js';
import { makeTestPki, type TestPki } from '../../support/pki.js';
import { writeFreeRadiusConfig } from '../../support/freeradius.js';
import type { EapAgentPortStatus } from '../../../src/agent/standalone/agent.js';
import { explain, readOut, scenarioOk } from '../scenario-checks.js';

export const PRELUDE = 'set -u\nsource "$REPO/test/lab/eap/eap-lib.sh"\n';

/** A fresh directory under <repo>/.lab for one test file's inputs. */
export function labDir(prefix: string): string {
  const dir = join(REPO_ROOT, '.lab', `${prefix}-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function labPki(dir: string): TestPki {
  const d = join(dir, 'pki');
  mkdirSync(d, { recursive: true });
  return makeTestPki(d);
}

/** Writes an agent configuration (JSON, which is YAML) and returns its path. */
export function agentConfig(dir: string, name: string, port: Record<string, unknown>, logLevel = 'info'): string {
  const path = join(dir, `${name}.json`);
  writeFileSync(path, JSON.stringify({ logLevel, ports: [{ name: 'p0', macsecName: 'ms0', helloTimeMs: 1000, ...port }] }, null, 2));
  return path;
}

/** Embedded EAP-TLS authenticator settings on interface va. */
export function embeddedAuthenticator(pki: TestPki, eap: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    interface: 'va',
    mode: 'eap-authenticator',
    eap: {
      caFile: pki.ca.certPath,
      certFile: pki.server.certPath,
      keyFile: pki.server.keyPath,
      identityPolicy: { subjectCn: ['*.vnf.example'] },
      txPeriodSeconds: 3,
      quietPeriodSeconds: 1,
      ...eap,
    },
  };
}

export function radiusAuthenticator(port: number, secret: string, eap: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    interface: 'va',
    mode: 'eap-authenticator',
    eap: { radius: { servers: [{ host: '127.0.0.1', port, secret }], timeoutMs: 1500, attempts: 2 }, txPeriodSeconds: 3, quietPeriodSeconds: 1, ...eap },
  };
}

export function ourSupplicant(pki: TestPki, eap: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    interface: 'vb',
    mode: 'eap-supplicant',
    eap: {
      identity: 'client1.vnf.example',
      caFile: pki.ca.certPath,
      certFile: pki.client.certPath,
      keyFile: pki.client.keyPath,
      startPeriodSeconds: 3,
      ...eap,
    },
  };
}

/** A FreeRADIUS 3.2 configuration directory (listening on 127.0.0.1:port in the guest's netns). */
export function radiusConfig(dir: string, pki: TestPki, secret: string, port: number, tlsMaxVersion: '1.2' | '1.3' = '1.2'): string {
  const d = join(dir, `freeradius-${port}`);
  mkdirSync(d, { recursive: true });
  writeFreeRadiusConfig(d, port, { pki, secret, tlsMaxVersion });
  return d;
}

export function scenario(name: string, script: string, timeoutMs: number, env: Record<string, string>): LabScenario {
  return { name, script: PRELUDE + script, timeoutMs, env };
}

export { explain, readOut, scenarioOk };

export interface AgentStatusFile {
  time: number;
  ports: EapAgentPortStatus[];
}

export function agentStatus(s: ScenarioResult, name: string): EapAgentPortStatus {
  const st = readOutJson<AgentStatusFile>(s, `${name}.status.json`);
  expect(st.ports.length).toBe(1);
  return st.ports[0]!;
}

export interface WpaFacts {
  ckn: string;
  cakDerived: boolean;
  eapSuccess: boolean;
  eapFailure: boolean;
  tls: string;
}

/** Subset of `ip -s -j macsec show`. */
export interface MacsecShow {
  ifname: string;
  sa_list?: { an: number; active: boolean }[];
  rx_sc?: { sci: string; sa_list?: { an: number; active: boolean }[] }[];
}

export function macsec(s: ScenarioResult, file: string): MacsecShow[] {
  return readOutJson<MacsecShow[]>(s, file);
}

export const activeRxSas = (links: MacsecShow[]): number =>
  links
    .flatMap((l) => l.rx_sc ?? [])
    .flatMap((sc) => sc.sa_list ?? [])
    .filter((sa) => sa.active).length;
export const activeTxSas = (links: MacsecShow[]): number => links.flatMap((l) => l.sa_list ?? []).filter((sa) => sa.active).length;
export const allSas = (links: MacsecShow[]): number =>
  links.flatMap((l) => l.sa_list ?? []).length + links.flatMap((l) => l.rx_sc ?? []).flatMap((sc) => sc.sa_list ?? []).length;

export function expectPing(s: ScenarioResult, file: string): void {
  const p = readOutJson<{ ok: boolean; output: string }>(s, file);
  expect(p.ok, `${file}:\n${p.output}`).toBe(true);
  expect(p.output).toMatch(/3 packets transmitted, 3 received/);
}

/** Log lines (JSON) of our agent. */
export function agentLog(s: ScenarioResult, name: string): { level: string; msg: string; [k: string]: unknown }[] {
  return readOut(s, `${name}.log`)
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: string; msg: string });
}
