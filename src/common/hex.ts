/** Hex helpers shared by the MKA code, CLI and tests. */

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Parses hex (colons, dashes and spaces allowed); throws a RangeError naming `what` otherwise. */
export function fromHex(s: string, what = 'value'): Uint8Array {
  const clean = s.replace(/[\s:-]/g, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
    throw new RangeError(`${what} is not a valid hex string`);
  }
  return Uint8Array.from(Buffer.from(clean, 'hex'));
}

export function macToString(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
