/**
 * Validation helpers for configuration files: each check reports a problem with the path of
 * the field (e.g. `ports[1].priority: must be an integer from 0 to 255`) and returns a
 * default, so that every problem of a file is reported at once.
 */
export type Raw = Record<string, unknown>;
export type Bad = (path: string, msg: string) => void;

export const isObj = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);

export class FieldChecker {
  constructor(readonly bad: Bad) {}

  unknownKeys(obj: Raw, path: string, allowed: readonly string[], hint?: (k: string) => string | undefined): void {
    for (const k of Object.keys(obj)) {
      if (allowed.includes(k)) continue;
      this.bad(`${path}.${k}`, hint?.(k) ?? `unknown field (allowed: ${allowed.join(', ')})`);
    }
  }

  int(v: unknown, path: string, min: number, max: number, dflt: number): number {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.bad(path, `must be an integer from ${min} to ${max}`);
      return dflt;
    }
    return v;
  }

  oneOf<T extends string>(v: unknown, path: string, allowed: readonly T[], dflt: T): T {
    if (v === undefined) return dflt;
    if (typeof v !== 'string' || !allowed.includes(v as T)) {
      this.bad(path, `must be one of ${allowed.join(', ')}`);
      return dflt;
    }
    return v as T;
  }

  str(v: unknown, path: string, required: boolean, desc = 'a non-empty string'): string | undefined {
    if (v === undefined) {
      if (required) this.bad(path, `required, ${desc}`);
      return undefined;
    }
    if (typeof v !== 'string' || v.length === 0) {
      this.bad(path, `must be ${desc}`);
      return undefined;
    }
    return v;
  }
}
