/**
 * Lab scenario (runs INSIDE the UML guest, one process per namespace):
 *   node --import tsx test/lab/netlink/scenario-secy.ts <a|b> <syncDir> <outDir>
 * Both sides run the same cases in lock step (file barriers in syncDir):
 * create a macsec link with KernelSecy, install TX/RX SAs with fixed test
 * keys, ping the peer, record `ip` views and our dump(), then tear down.
 * Results: <outDir>/<case>.<side>.json, read by kernel-secy.lab.test.ts.
 */
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { CipherSuiteName } from '../../../src/mka/constants.js';
import type { SecyAction } from '../../../src/mka/secy.js';
import { MacsecNetlinkError } from '../../../src/netlink/errors.js';
import { attachMacsecPort, createMacsecPort, type KernelSecy } from '../../../src/netlink/kernel-secy.js';
import { Rtnl } from '../../../src/netlink/rtnl.js';

const run = promisify(execFile);
const [side, syncDir, outDir] = process.argv.slice(2) as ['a' | 'b', string, string];
const peer = side === 'a' ? 'b' : 'a';
const PARENT = side === 'a' ? 'va' : 'vb';
const MAC = { a: '02000000000a', b: '02000000000b' };
const IP = { a: '10.9.0.1', b: '10.9.0.2' };
const IFNAME = 'msec0';

interface Case {
  name: string;
  cipherSuite: CipherSuiteName;
  /** null = integrity only */
  confidentialityOffset: number | null;
  port: number;
  /** Pass the SCI explicitly (instead of letting the kernel derive it from the port). */
  explicitSci: boolean;
  txPn: bigint;
  /** Create the link with this suite first; setCipherSuite then re-creates it with `cipherSuite`. */
  createSuite?: CipherSuiteName;
}

const CASES: Case[] = [
  { name: 'gcm-aes-128', cipherSuite: 'GCM-AES-128', confidentialityOffset: 0, port: 1, explicitSci: false, txPn: 1n },
  { name: 'gcm-aes-256', cipherSuite: 'GCM-AES-256', confidentialityOffset: 0, port: 7, explicitSci: true, txPn: 100n },
  // XPN: start just below 2^32 so the ping crosses the 32-bit PN boundary.
  { name: 'gcm-aes-xpn-128', cipherSuite: 'GCM-AES-XPN-128', confidentialityOffset: 0, port: 1, explicitSci: true, txPn: 0xfffffffen },
  { name: 'gcm-aes-xpn-256', cipherSuite: 'GCM-AES-XPN-256', confidentialityOffset: 0, port: 1, explicitSci: false, txPn: 0xfffffffen },
  // Also exercises setCipherSuite on an empty link (the kernel cannot change it in place).
  { name: 'integrity-only', cipherSuite: 'GCM-AES-128', confidentialityOffset: null, port: 1, explicitSci: false, txPn: 1n, createSuite: 'GCM-AES-256' },
];

const keyOf = (s: 'a' | 'b', len: number): Uint8Array => Uint8Array.from({ length: len }, (_, i) => (s === 'a' ? 0x10 : 0x80) + i);
/** KI = MI (12 octets) || KN (4 octets, big endian). */
const kiOf = (s: 'a' | 'b'): string => (s === 'a' ? 'aa'.repeat(12) : 'bb'.repeat(12)) + '00000001';
const SALT = Uint8Array.from({ length: 12 }, (_, i) => 0xc0 + i);
const SSCI = { a: 1, b: 2 };
const sciOf = (s: 'a' | 'b', port: number): string => MAC[s] + port.toString(16).padStart(4, '0');

function json(v: unknown): string {
  return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x instanceof Uint8Array ? Buffer.from(x).toString('hex') : x), 2);
}

async function barrier(name: string, timeoutMs = 30_000): Promise<void> {
  writeFileSync(join(syncDir, `${name}.${side}`), '');
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(join(syncDir, `${name}.${peer}`))) {
    if (Date.now() > deadline) throw new Error(`barrier ${name}: peer ${peer} did not arrive`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function sh(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(cmd, args, { timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

function errInfo(err: unknown): Record<string, unknown> {
  if (err instanceof MacsecNetlinkError)
    return { name: err.name, message: err.message, code: err.errnoName, errno: err.errno, operation: err.operation, string: String(err) };
  return { name: (err as Error).name, message: String((err as Error).message ?? err) };
}

async function runCase(c: Case, res: Record<string, unknown>): Promise<void> {
  const t0 = performance.now();
  const keyLen = c.cipherSuite.endsWith('256') ? 32 : 16;
  const xpn = c.cipherSuite.includes('XPN');
  const mySci = sciOf(side, c.port);
  const peerSci = sciOf(peer, c.port);
  res.sci = mySci;
  res.peerSci = peerSci;

  const secy: KernelSecy = await createMacsecPort(PARENT, {
    name: IFNAME,
    cipherSuite: c.createSuite ?? c.cipherSuite,
    ...(c.explicitSci ? { sci: mySci } : { port: c.port }),
    replayProtect: true,
    replayWindow: 0,
    validate: 'strict',
  });
  res.secySci = secy.sci;
  const xpnParams = (s: 'a' | 'b') => (xpn ? { ssci: SSCI[s], salt: SALT } : {});
  const actions: SecyAction[] = [
    { kind: 'setCipherSuite', cipherSuite: c.cipherSuite, confidentialityOffset: c.confidentialityOffset },
    { kind: 'installTxSa', an: 0, nextPn: c.txPn, ki: kiOf(side), sak: keyOf(side, keyLen), ...xpnParams(side) },
    { kind: 'createRxSc', sci: peerSci },
    { kind: 'installRxSa', sci: peerSci, an: 0, lowestPn: 1n, ki: kiOf(peer), sak: keyOf(peer, keyLen), ...xpnParams(peer) },
    { kind: 'enableTxSa', an: 0, enable: true },
    { kind: 'setProtect', protectFrames: true, validate: 'strict' },
    { kind: 'setControlledPortEnabled', enabled: true },
  ];
  res.ifindexAtCreate = secy.ifindex;
  for (const a of actions) await secy.apply(a);
  res.ifindexAfterSetup = secy.ifindex;
  res.setupMs = Math.round(performance.now() - t0);
  await sh('ip', ['addr', 'add', `${IP[side]}/24`, 'dev', IFNAME]);

  if (c.name === 'gcm-aes-128' && side === 'a') {
    // Error model: a duplicate RX SA is EEXIST, naming the operation.
    try {
      await secy.apply({ kind: 'installRxSa', sci: peerSci, an: 0, lowestPn: 1n, ki: kiOf(peer), sak: keyOf(peer, keyLen) });
      res.duplicateRxSa = { error: null };
    } catch (err) {
      res.duplicateRxSa = errInfo(err);
    }
    const expectError = async (label: string, f: () => Promise<unknown>): Promise<void> => {
      try {
        const r = await f();
        if (r && typeof (r as KernelSecy).close === 'function') await (r as KernelSecy).close();
        (res.errors as Record<string, unknown>)[label] = { error: null };
      } catch (err) {
        (res.errors as Record<string, unknown>)[label] = errInfo(err);
      }
    };
    res.errors = {};
    await expectError('duplicateRxSc', () => secy.apply({ kind: 'createRxSc', sci: peerSci }));
    await expectError('duplicateTxSa', () => secy.apply({ kind: 'installTxSa', an: 0, nextPn: 1n, ki: kiOf(side), sak: keyOf(side, keyLen) }));
    await expectError('wrongKeyLength', () => secy.apply({ kind: 'installTxSa', an: 2, nextPn: 1n, ki: kiOf(side), sak: keyOf(side, 32) }));
    await expectError('sameSciOnParent', () => createMacsecPort(PARENT, { name: 'msec1', port: c.port }));
    await expectError('rxSaWithoutSc', () =>
      secy.apply({ kind: 'installRxSa', sci: '0200000000990001', an: 0, lowestPn: 1n, ki: kiOf(peer), sak: keyOf(peer, keyLen) }),
    );
    try {
      await secy.apply({ kind: 'deleteRxSa', sci: peerSci, an: 3 });
      res.deleteMissingRxSa = { error: null };
    } catch (err) {
      res.deleteMissingRxSa = errInfo(err);
    }
  }

  await barrier(`${c.name}-ready`);
  const ping = await sh('ping', ['-c', '3', '-i', '0.2', '-W', '2', IP[peer]]);
  res.ping = { exitCode: ping.code, output: ping.stdout + ping.stderr };
  await barrier(`${c.name}-pinged`);

  res.ipLink = JSON.parse((await sh('ip', ['-d', '-j', 'link', 'show', 'dev', IFNAME])).stdout || '[]');
  res.ipLinkText = (await sh('ip', ['-d', 'link', 'show', 'dev', IFNAME])).stdout;
  res.ipMacsec = JSON.parse((await sh('ip', ['-s', '-j', 'macsec', 'show', IFNAME])).stdout || '[]');
  res.ipMacsecText = (await sh('ip', ['-s', 'macsec', 'show', IFNAME])).stdout;
  res.dump = await secy.dump();
  const pn = await secy.readPn();
  res.readPn = { txNextPn: Object.fromEntries(pn.txNextPn), rxLowestPn: Object.fromEntries(pn.rxLowestPn ?? []) };

  if (c.name === 'gcm-aes-128') {
    // Rekey under the same SecY: new SAK on AN 1 (RX first, then TX), switch the encoding SA, ping again.
    const t1 = performance.now();
    await secy.apply({
      kind: 'installRxSa',
      sci: peerSci,
      an: 1,
      lowestPn: 1n,
      ki: kiOf(peer).slice(0, 24) + '00000002',
      sak: keyOf(peer, keyLen).map((x) => x ^ 0xff),
    });
    await secy.apply({ kind: 'installTxSa', an: 1, nextPn: 1n, ki: kiOf(side).slice(0, 24) + '00000002', sak: keyOf(side, keyLen).map((x) => x ^ 0xff) });
    await barrier('rekey-rx-installed');
    await secy.apply({ kind: 'enableTxSa', an: 1, enable: true });
    await secy.apply({ kind: 'enableTxSa', an: 0, enable: false });
    res.rekeyMs = Math.round(performance.now() - t1);
    await barrier('rekey-tx-switched');
    const ping2 = await sh('ping', ['-c', '3', '-i', '0.2', '-W', '2', IP[peer]]);
    res.pingAfterRekey = { exitCode: ping2.code, output: ping2.stdout + ping2.stderr };
    await barrier('rekey-pinged');
    res.dumpAfterRekey = await secy.dump();
    await secy.apply({ kind: 'deleteTxSa', an: 1 });
    await secy.apply({ kind: 'deleteRxSa', sci: peerSci, an: 1 });
  }

  // Teardown through the Secy interface, then check with our dump and rtnetlink.
  await secy.apply({ kind: 'enableTxSa', an: 0, enable: false });
  await secy.apply({ kind: 'deleteTxSa', an: 0 });
  await secy.apply({ kind: 'deleteRxSa', sci: peerSci, an: 0 });
  await secy.apply({ kind: 'deleteRxSc', sci: peerSci });
  res.afterDelete = await secy.dump();
  await secy.close();
  const rtnl = Rtnl.open();
  try {
    await rtnl.getLink(IFNAME);
    res.linkAfterClose = { exists: true };
  } catch (err) {
    res.linkAfterClose = { exists: false, ...errInfo(err) };
  } finally {
    rtnl.close();
  }
  await barrier(`${c.name}-closed`);
}

/** attachMacsecPort on a link made by someone else (here: ip link add): reads its settings, leaves it on close. */
async function attachCheck(): Promise<Record<string, unknown>> {
  const res: Record<string, unknown> = {};
  await sh('ip', ['link', 'add', 'link', PARENT, 'msec9', 'type', 'macsec', 'port', '9', 'cipher', 'gcm-aes-256', 'encrypt', 'off']);
  const secy = await attachMacsecPort('msec9');
  res.sci = secy.sci;
  res.cipherSuite = secy.cipherSuite;
  res.dump = await secy.dump();
  await secy.close();
  res.existsAfterClose = (await sh('ip', ['link', 'show', 'msec9'])).code === 0;
  try {
    await attachMacsecPort(PARENT);
    res.attachNonMacsec = { error: null };
  } catch (err) {
    res.attachNonMacsec = errInfo(err);
  }
  await sh('ip', ['link', 'del', 'msec9']);
  return res;
}

async function main(): Promise<void> {
  const only = process.env.SECY_CASES?.split(',');
  for (const c of CASES) {
    if (only && !only.includes(c.name)) continue;
    const res: Record<string, unknown> = { case: c.name, side, cipherSuite: c.cipherSuite, encrypt: c.confidentialityOffset !== null };
    try {
      await runCase(c, res);
    } catch (err) {
      Object.assign(res, { fatal: errInfo(err), stack: (err as Error).stack });
      writeFileSync(join(outDir, `${c.name}.${side}.json`), json(res));
      throw err;
    }
    writeFileSync(join(outDir, `${c.name}.${side}.json`), json(res));
    console.log(`${c.name}: done`);
  }
  if (side === 'a') writeFileSync(join(outDir, 'attach.a.json'), json(await attachCheck()));
}

if (side) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
