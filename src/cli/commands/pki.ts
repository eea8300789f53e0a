/** `macsecctl pki ...`: create a deployment CA and issue manager, agent and operator certificates. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CommandRegistry, CommandSpec, OptionSpec } from '../command.js';
import { out, positionals, requireString, UsageError } from '../command.js';
import { describeCert, initCaDir, issue, loadCaDir, writePair, type IssueKind } from '../../pki/pki.js';

const JSON_OPTION: OptionSpec = { type: 'boolean', description: 'JSON output' };

const KINDS: IssueKind[] = ['manager', 'agent', 'admin', 'read-only', 'orchestrator', 'vnf', 'eap-server'];

export const pkiInitCommand: CommandSpec = {
  path: ['pki', 'init'],
  summary: 'Create a deployment CA (ca.crt, ca.key) in a directory',
  options: {
    dir: { type: 'string', description: 'PKI directory (required)' },
    cn: { type: 'string', description: 'CA common name' },
    days: { type: 'string', description: 'validity in days (default 3650)' },
    force: { type: 'boolean', description: 'replace an existing CA' },
    json: JSON_OPTION,
  },
  async run(ctx) {
    const dir = requireString(ctx, 'dir');
    const ca = initCaDir(dir, {
      ...(typeof ctx.options.cn === 'string' ? { commonName: ctx.options.cn } : {}),
      ...(typeof ctx.options.days === 'string' ? { days: Number(ctx.options.days) } : {}),
      force: ctx.options.force === true,
    });
    const info = { ...describeCert(ca.certPem), cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
    out(ctx, info, () => `created CA ${info.subject}\n  ${info.cert}\n  ${info.key} (keep it offline; mode 0600)`);
    return 0;
  },
};

export const pkiIssueCommand: CommandSpec = {
  path: ['pki', 'issue'],
  summary: 'Issue a manager, agent, admin, read-only, orchestrator, vnf (EAP-TLS client) or eap-server certificate signed by the CA in --dir',
  ...positionals('<kind> <name>', 2),
  options: {
    dir: { type: 'string', description: 'PKI directory holding ca.crt/ca.key (required)' },
    dns: { type: 'string', multiple: true, description: 'DNS name for manager/agent server certificates (repeatable)' },
    ip: { type: 'string', multiple: true, description: 'IP address for manager/agent server certificates (repeatable)' },
    days: { type: 'string', description: 'validity in days (default 825)' },
    out: { type: 'string', description: 'file base name (default <kind>-<name>, manager: manager)' },
    force: { type: 'boolean', description: 'replace an existing key and certificate of that name' },
    json: JSON_OPTION,
  },
  async run(ctx) {
    const dir = requireString(ctx, 'dir');
    const [kind, name] = ctx.positionals as [string, string];
    if (!KINDS.includes(kind as IssueKind)) throw new UsageError(`<kind> must be one of ${KINDS.join(', ')}`);
    const ca = loadCaDir(dir);
    const pair = issue(ca, {
      kind: kind as IssueKind,
      name,
      ...(ctx.options.dns ? { dnsNames: ctx.options.dns as string[] } : {}),
      ...(ctx.options.ip ? { ipAddresses: ctx.options.ip as string[] } : {}),
      ...(typeof ctx.options.days === 'string' ? { days: Number(ctx.options.days) } : {}),
    });
    const base = typeof ctx.options.out === 'string' ? ctx.options.out : kind === 'manager' ? 'manager' : `${kind}-${name}`;
    const files = writePair(dir, base, pair, { force: ctx.options.force === true });
    const info = { ...describeCert(pair.certPem), ...files };
    out(ctx, info, () => `issued ${kind} certificate ${info.subjectAltName}\n  ${files.cert}\n  ${files.key} (mode 0600)`);
    return 0;
  },
};

export const pkiShowCommand: CommandSpec = {
  path: ['pki', 'show'],
  summary: 'Show a certificate: subject, identity, validity',
  ...positionals('<cert.pem>', 1),
  options: { json: JSON_OPTION },
  async run(ctx) {
    const info = describeCert(readFileSync(ctx.positionals[0]!, 'utf8'));
    out(ctx, info, () =>
      Object.entries(info)
        .map(([k, v]) => `${k.padEnd(16)} ${v}`)
        .join('\n'),
    );
    return 0;
  },
};

export const pkiCommands = [pkiInitCommand, pkiIssueCommand, pkiShowCommand];

export function registerPkiCommands(reg: CommandRegistry): CommandRegistry {
  return reg.add(...pkiCommands);
}
