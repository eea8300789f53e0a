/** Result type shared by the EAP/EAPOL/RADIUS decoders: decoders never throw. */

export interface DecodeError {
  /** Name of the field that is malformed, e.g. "eapol.bodyLength" or "eap.length". */
  readonly field: string;
  readonly message: string;
}

export type Decoded<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: DecodeError };

export function ok<T>(value: T): Decoded<T> {
  return { ok: true, value };
}

export function fail<T = never>(field: string, message: string): Decoded<T> {
  return { ok: false, error: { field, message } };
}

export function formatDecodeError(e: DecodeError): string {
  return `${e.field}: ${e.message}`;
}

/** Logger used by the EAP code. Secrets (MSK, keys, private keys) are never passed to it. */
export type EapLogLevel = 'debug' | 'info' | 'warn' | 'error';
export type EapLogger = (level: EapLogLevel, msg: string, fields?: Record<string, unknown>) => void;
export const nullLogger: EapLogger = () => {};
