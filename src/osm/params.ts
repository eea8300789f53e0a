/**
 * Primitive parameters as OSM's LCM sends them: a YAML document produced by Python's `yaml.dump`
 * of a dict (keys sorted; dict and list values already turned into flow-style YAML strings;
 * INTEGER parameters as ints; `null` possible). PyYAML emits YAML 1.1 but quotes every string its
 * resolver would read as something else ('yes', '0755', '1:30'), so the YAML 1.2 core schema reads
 * its output back exactly - and, unlike the `yaml` package's 1.1 schema, does not turn a plain `y`
 * or `n` (which PyYAML leaves unquoted) into a boolean.
 *
 * Keys are normalised so `manager-address` and `manager_address` are the same parameter (OSM
 * descriptors use both styles).
 */
import { MacsecError } from '../common/errors.js';
import { isScalar, parseDocument, visit } from 'yaml';

// PyYAML's (YAML 1.1) implicit int and float resolvers. A plain scalar YAML 1.2 reads as a number
// but PyYAML does not (e.g. `1e3`, `0o17`) was a string on the Python side and stays one here.
const PY_INT = /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/;
const PY_FLOAT =
  /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/;

/** An LCM parameter that is missing or wrong; the message names it. */
export class ParamError extends MacsecError {
  constructor(message: string) {
    super('invalid_argument', message);
  }
}

export type ParamValue = unknown;

/** Longest params document accepted (LCM's are a few KiB at most, PEM bundles included). */
export const MAX_PARAMS_BYTES = 1 << 20;

export function normaliseKey(k: string): string {
  return k.trim().replace(/-/g, '_').toLowerCase();
}

/** Longest piece of a caller's value echoed in an error message (never for secret parameters). */
export const ECHO_MAX = 64;

/** A short, printable prefix of an untrusted value for error messages. */
export function clip(v: unknown, max = ECHO_MAX): string {
  const s = typeof v === 'string' ? v : (JSON.stringify(v) ?? String(v));
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed
  const flat = s.replace(/[\u0000-\u001f\u007f]/g, ' ');
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

function describeYamlError(e: { message: string }): string {
  // yaml's messages carry a code frame after the first line; the first line names line and column.
  // Some quote the offending token (`Unexpected scalar token in YAML stream: "..."`), which may be
  // a key: drop quoted tokens, keep the position.
  return clip(
    e.message
      .split('\n')[0]!
      .replace(/:\s*"(?:[^"\\]|\\.)*"/g, '')
      .replace(/:\s*$/, ''),
    160,
  );
}

/** Parses one YAML document; throws ParamError naming where it is malformed. */
export function parseYaml(text: string, what: string): unknown {
  if (Buffer.byteLength(text, 'utf8') > MAX_PARAMS_BYTES) throw new ParamError(`${what} is larger than ${MAX_PARAMS_BYTES} bytes`);
  const doc = parseDocument(text, { version: '1.2', schema: 'core', uniqueKeys: true, prettyErrors: true, strict: true });
  if (doc.errors.length > 0) throw new ParamError(`${what} is not valid YAML: ${describeYamlError(doc.errors[0]!)}`);
  visit(doc, {
    Scalar(_key, node) {
      if (
        isScalar(node) &&
        node.type === 'PLAIN' &&
        typeof node.value === 'number' &&
        node.source !== undefined &&
        !PY_INT.test(node.source) &&
        !PY_FLOAT.test(node.source)
      ) {
        node.value = node.source;
      }
    },
  });
  try {
    return doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    throw new ParamError(`${what} is not valid YAML: ${describeYamlError(e as Error)}`);
  }
}

export class Params {
  private readonly values: Map<string, ParamValue>;
  readonly used = new Set<string>();

  constructor(
    values: Record<string, ParamValue>,
    /** Prefix for error messages of nested mappings, e.g. "endpoints[1].". */
    readonly prefix = '',
  ) {
    this.values = new Map();
    for (const [k, v] of Object.entries(values)) this.values.set(normaliseKey(k), v);
  }

  /** Parses the `params` string of a PrimitiveRequest. Empty, `null` and `{}` mean no parameters. */
  static parse(text: string): Params {
    if (text.trim() === '') return new Params({});
    const v = parseYaml(text, 'params');
    if (v === null || v === undefined) return new Params({});
    if (typeof v !== 'object' || Array.isArray(v)) {
      throw new ParamError(`params must be a YAML mapping of parameter names to values, got ${Array.isArray(v) ? 'a list' : typeof v}`);
    }
    return new Params(v as Record<string, ParamValue>);
  }

  keys(): string[] {
    return [...this.values.keys()];
  }

  has(name: string): boolean {
    const v = this.values.get(normaliseKey(name));
    return v !== undefined && v !== null && v !== '';
  }

  raw(name: string): ParamValue {
    const k = normaliseKey(name);
    this.used.add(k);
    const v = this.values.get(k);
    return v === null || v === '' ? undefined : v;
  }

  /** The raw value without marking the parameter used (for scrubbing secrets from messages). */
  rawPeek(name: string): ParamValue {
    return this.values.get(normaliseKey(name));
  }

  /** First of several alias names that is set. */
  private pick(names: string[]): { name: string; value: ParamValue } {
    for (const n of names) {
      const v = this.raw(n);
      if (v !== undefined) return { name: n, value: v };
    }
    return { name: names[0]!, value: undefined };
  }

  /**
   * A string parameter. `secret`: the value is key material and never appears in a message, even
   * when it is malformed (messages name the parameter and the rule only).
   */
  str(
    names: string | string[],
    opts: { required?: boolean; pattern?: RegExp; patternText?: string; multiline?: boolean; secret?: boolean } = {},
  ): string | undefined {
    const { name, value } = this.pick(Array.isArray(names) ? names : [names]);
    if (value === undefined) {
      if (opts.required) throw new ParamError(`parameter '${this.prefix}${name}' is required`);
      return undefined;
    }
    let s: string;
    if (typeof value === 'string') s = value;
    else if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') s = String(value);
    else throw new ParamError(`parameter '${this.prefix}${name}' must be a string, got ${Array.isArray(value) ? 'a list' : typeof value}`);
    if (!opts.multiline) s = s.trim();
    if (opts.pattern && !opts.pattern.test(s)) {
      const rule = opts.patternText ?? String(opts.pattern);
      if (opts.secret) throw new ParamError(`parameter '${this.prefix}${name}' must be ${rule} (the value is secret and not shown)`);
      throw new ParamError(`parameter '${this.prefix}${name}' ${JSON.stringify(clip(s))} must match ${rule}`);
    }
    return s;
  }

  int(names: string | string[], opts: { required?: boolean; min?: number; max?: number; default?: number } = {}): number | undefined {
    const { name, value } = this.pick(Array.isArray(names) ? names : [names]);
    if (value === undefined) {
      if (opts.required) throw new ParamError(`parameter '${this.prefix}${name}' is required`);
      return opts.default;
    }
    let n: number;
    if (typeof value === 'number') n = value;
    else if (typeof value === 'string' && /^\s*-?\d+\s*$/.test(value)) n = Number(value);
    else throw new ParamError(`parameter '${this.prefix}${name}' must be an integer, got ${clip(value)}`);
    if (!Number.isSafeInteger(n)) throw new ParamError(`parameter '${this.prefix}${name}' must be an integer, got ${clip(value)}`);
    if (opts.min !== undefined && n < opts.min) throw new ParamError(`parameter '${this.prefix}${name}' must be >= ${opts.min}, got ${n}`);
    if (opts.max !== undefined && n > opts.max) throw new ParamError(`parameter '${this.prefix}${name}' must be <= ${opts.max}, got ${n}`);
    return n;
  }

  bool(names: string | string[], def: boolean): boolean {
    const { name, value } = this.pick(Array.isArray(names) ? names : [names]);
    if (value === undefined) return def;
    if (typeof value === 'boolean') return value;
    if (typeof value === 'string') {
      const s = value.trim().toLowerCase();
      if (['true', 'yes', 'on', '1'].includes(s)) return true;
      if (['false', 'no', 'off', '0'].includes(s)) return false;
    }
    if (value === 0 || value === 1) return value === 1;
    throw new ParamError(`parameter '${this.prefix}${name}' must be a boolean (true/false), got ${clip(value)}`);
  }

  /**
   * A list parameter. LCM turns list values into flow-style YAML strings ("[a, b]"), operators
   * often write comma-separated strings ("a,b"); both are accepted, as is a real YAML list.
   */
  list(names: string | string[], opts: { required?: boolean } = {}): unknown[] | undefined {
    const { name, value } = this.pick(Array.isArray(names) ? names : [names]);
    if (value === undefined) {
      if (opts.required) throw new ParamError(`parameter '${this.prefix}${name}' is required`);
      return undefined;
    }
    if (Array.isArray(value)) return value;
    if (typeof value === 'string') {
      const t = value.trim();
      if (t.startsWith('[') || t.startsWith('- ') || t.startsWith('{')) {
        const v = parseYaml(t, `parameter '${this.prefix}${name}'`);
        if (Array.isArray(v)) return v;
        if (v && typeof v === 'object') return [v];
        throw new ParamError(`parameter '${this.prefix}${name}' must be a list`);
      }
      return t
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
    }
    if (typeof value === 'object' && value !== null) return [value];
    return [value];
  }

  /** Names given that no handler read (reported, not refused: LCM adds its own parameters). */
  unused(): string[] {
    return this.keys().filter((k) => !this.used.has(k));
  }
}

/** A mapping inside a list parameter, read with the same rules. */
export function paramsOf(v: unknown, what: string): Params {
  if (typeof v === 'string') {
    const parsed = parseYaml(v, what);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return new Params(parsed as Record<string, unknown>, `${what}.`);
  } else if (v && typeof v === 'object' && !Array.isArray(v)) {
    return new Params(v as Record<string, unknown>, `${what}.`);
  }
  throw new ParamError(`${what} must be a mapping, got ${clip(v)}`);
}
