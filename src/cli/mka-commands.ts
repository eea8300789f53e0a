/** MKA commands of macsecctl. */
import { fromHex } from '../common/hex.js';
import { PcapError } from '../pcap/file.js';
import { type CommandSpec, out, positionals, requireString, UsageError } from './command.js';
import { decodeCapture, formatReports, loadCapture } from './mka-decode.js';

function parseKey(hex: string, name: string, lengths: (n: number) => boolean, expect: string): Uint8Array {
  let b: Uint8Array;
  try {
    b = fromHex(hex, `--${name}`);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (!lengths(b.length)) throw new UsageError(`--${name} must be ${expect} (got ${b.length} octets)`);
  return b;
}

export const mkaDecodeCommand: CommandSpec = {
  path: ['mka', 'decode'],
  summary: 'Decode the EAPOL-MKA frames of a capture, verify ICVs and unwrap distributed SAKs',
  ...positionals('<file.pcap>', 1),
  options: {
    cak: { type: 'string', description: 'CAK, 32 or 64 hex digits (required)' },
    ckn: { type: 'string', description: 'CKN, 2..64 hex digits (required)' },
    json: { type: 'boolean', description: 'print one JSON array, one object per MKPDU' },
    'show-keys': { type: 'boolean', description: 'include unwrapped SAK/CAK values (handle the output as a secret)' },
  },
  async run(ctx) {
    const cak = parseKey(requireString(ctx, 'cak'), 'cak', (n) => n === 16 || n === 32, '16 or 32 octets');
    const ckn = parseKey(requireString(ctx, 'ckn'), 'ckn', (n) => n >= 1 && n <= 32, '1..32 octets');
    const path = ctx.positionals[0]!;
    let res;
    try {
      res = decodeCapture(loadCapture(path), { cak, ckn }, ctx.options['show-keys'] === true);
    } catch (e) {
      if (e instanceof PcapError) {
        ctx.io.err(`${path}: ${e.message}`);
        return 1;
      }
      throw e;
    } finally {
      cak.fill(0);
    }
    out(ctx, res.reports, () => formatReports(res));
    for (const e of res.errors) ctx.io.err(`${path}: ${e}`);
    return res.errors.length > 0 ? 1 : 0;
  },
};
