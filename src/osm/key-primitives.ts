/**
 * The key chain primitives of the execution environment (day-2, `osm ns-action`):
 *
 *   add-channel-key     AddChannelKey: the manager generates a next key for a PSK channel and
 *                       distributes it to every endpoint before its start (start_in_seconds or
 *                       start_time, lifetime_seconds). Idempotent by state: a channel that already
 *                       has a key after its current one (a retry, or a rotation not finished) is
 *                       answered "already present"; request_id asks for an explicit key instead.
 *   retire-channel-key  RetireChannelKey: with ckn, that key (missing = already done); without,
 *                       finishes the rotation: every key older than the newest key in use on every
 *                       endpoint (optionally waiting wait_seconds for one), "nothing to retire"
 *                       when the channel has one key. force is passed on.
 *
 * No reply carries a CAK (the manager never returns one). A PSK this EE kept for the VNF side
 * (create-secure-channel with a generated key) is deleted when its key is retired: that key is
 * gone everywhere. Unauthenticated callers may change the keys of channels this EE created only.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ChannelKeyState, channelKeyStateToJSON, type SecureChannel } from '../control/gen/macsec/v1/manager.js';
import { ManagerCallError } from '../control/client.js';
import { NAME_RE, REQUEST_ID_RE, REQUEST_ID_RULE } from '../common/names.js';
import type { EeConfig } from './config.js';
import { channelName } from './channel-params.js';
import { clip, ParamError, type Params } from './params.js';
import type { ManagerClient, PrimitiveContext, Reply } from './primitives.js';

/** What the runner lends these handlers (PrimitiveRunner's own helpers). */
export interface KeyPrimitiveHelpers {
  stateDir: string | undefined;
  requireConfig(): EeConfig;
  requireOwned(name: string, ctx: PrimitiveContext, action: string): void;
  clientFor(cfg: EeConfig): ManagerClient;
  withRetry<T>(fn: () => Promise<T>, budgetMs: number, progress: (m: string) => void): Promise<T>;
  about<T>(what: string, fn: () => Promise<T>): Promise<T>;
  heartbeat<T>(work: Promise<T>, ctx: PrimitiveContext, what: string): Promise<T>;
  ignored(p: Params): string;
}

const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const CKN_RE = /^(?:[0-9A-Fa-f]{2}){1,32}$/;
const ok = (message: string): Reply => ({ status: 'OK', message });
const error = (message: string): Reply => ({ status: 'ERROR', message });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const iso = (ms: number) => new Date(ms).toISOString();
const keyState = (s: ChannelKeyState) => channelKeyStateToJSON(s).replace(/^CHANNEL_KEY_STATE_/, '');

/** `keys: <ckn> IN_USE, <ckn> PENDING from <time>` (CKNs are not secret). */
export function describeKeys(ch: SecureChannel): string {
  if (!ch.keys.length) return 'no key chain (no PSK endpoints)';
  return `keys: ${ch.keys.map((k) => `${k.ckn} ${keyState(k.state)}${k.state === ChannelKeyState.CHANNEL_KEY_STATE_PENDING ? ` from ${iso(k.startTimeMs)}` : ''}`).join(', ')}`;
}

/** Index of the newest key in use on every endpoint, -1 if none. */
const newestInUse = (ch: SecureChannel): number => {
  for (let i = ch.keys.length - 1; i >= 0; i--) if (ch.keys[i]!.state === ChannelKeyState.CHANNEL_KEY_STATE_IN_USE) return i;
  return -1;
};

export function keyChainHandlers(h: KeyPrimitiveHelpers): Record<string, (p: Params, ctx: PrimitiveContext) => Promise<Reply>> {
  const channel = async (name: string, ctx: PrimitiveContext, client: ManagerClient): Promise<SecureChannel> => {
    try {
      return await h.withRetry(
        () => client.getSecureChannel(name, 10_000),
        30_000,
        (m) => ctx.progress(m),
      );
    } catch (e) {
      if (e instanceof ManagerCallError && e.code === 'not_found') throw new ParamError(`no secure channel '${name}' on the manager`);
      throw e;
    }
  };

  const addChannelKey = async (p: Params, ctx: PrimitiveContext): Promise<Reply> => {
    const name = channelName(p);
    const startIn = p.int('start_in_seconds', { min: 0, max: 366 * 86_400 });
    const startAt = p.str('start_time', { pattern: ISO_RE, patternText: 'an ISO 8601 time with zone, e.g. 2030-01-31T12:00:00Z' });
    if (startIn !== undefined && startAt !== undefined) throw new ParamError(`give 'start_in_seconds' or 'start_time', not both`);
    const lifetimeSeconds = p.int('lifetime_seconds', { min: 0, max: 315_360_000, default: 0 })!;
    const explicitId = p.str('request_id', { pattern: REQUEST_ID_RE, patternText: REQUEST_ID_RULE });
    const timeoutS = p.int('timeout_seconds', { min: 1, max: 3600, default: 60 })!;
    const cfg = h.requireConfig();
    h.requireOwned(name, ctx, 'change the keys of');
    const client = h.clientFor(cfg);
    if (!explicitId) {
      const ch = await channel(name, ctx, client);
      if (ch.keys.length > 1) {
        const k = ch.keys[ch.keys.length - 1]!;
        return ok(
          `already present: secure channel '${name}' has a next key ${k.ckn} (${keyState(k.state)}); retire its older key (retire-channel-key) before adding another; ${describeKeys(ch)}${h.ignored(p)}`,
        );
      }
    }
    const startTimeMs = startIn !== undefined ? Date.now() + startIn * 1000 : startAt !== undefined ? Date.parse(startAt) : 0;
    // One id for every retry of this call: the manager answers a retry with the key it added.
    const requestId = explicitId ?? `osm-key-${randomUUID()}`;
    ctx.progress(`adding a next key to secure channel '${name}' through manager ${cfg.managerAddress}`);
    const res = await h.about(`secure channel '${name}'`, () =>
      h.heartbeat(
        h.withRetry(
          () => client.addChannelKey({ channelId: name, startTimeMs, lifetimeSeconds, requestId }, timeoutS * 1000),
          30_000,
          (m) => ctx.progress(m),
        ),
        ctx,
        `add-channel-key '${name}'`,
      ),
    );
    const k = res.key!;
    return ok(
      `${res.created ? 'added' : 'already present'}: next key ${k.ckn} of secure channel '${name}' (${keyState(k.state)}), distributed to every endpoint, starts ${iso(k.startTimeMs)}` +
        `${k.expiresMs ? `, expires ${iso(k.expiresMs)}` : ''}; ${describeKeys(res.channel!)}${h.ignored(p)}`,
    );
  };

  const retireChannelKey = async (p: Params, ctx: PrimitiveContext): Promise<Reply> => {
    const name = channelName(p);
    const ckn = p.str('ckn', { pattern: CKN_RE, patternText: '1 to 32 octets in hex' })?.toLowerCase();
    const force = p.bool('force', false);
    const waitS = p.int('wait_seconds', { min: 0, max: 3600, default: 0 })!;
    const timeoutS = p.int('timeout_seconds', { min: 1, max: 3600, default: 60 })!;
    const cfg = h.requireConfig();
    h.requireOwned(name, ctx, 'change the keys of');
    const client = h.clientFor(cfg);
    let ch = await channel(name, ctx, client);
    let targets: string[];
    if (ckn) targets = [ckn];
    else {
      const until = Date.now() + waitS * 1000;
      let announced = false;
      while (ch.keys.length > 1 && newestInUse(ch) <= 0 && Date.now() < until) {
        if (!announced) ctx.progress(`waiting up to ${waitS} s for a later key of '${name}' to be in use on every endpoint`);
        announced = true;
        await sleep(Math.min(1000, Math.max(0, until - Date.now())));
        ch = await channel(name, ctx, client);
      }
      if (ch.keys.length <= 1) return ok(`nothing to retire: secure channel '${name}' has one key; ${describeKeys(ch)}${h.ignored(p)}`);
      const i = newestInUse(ch);
      if (i > 0) targets = ch.keys.slice(0, i).map((k) => k.ckn);
      else if (force) targets = [ch.keys[0]!.ckn];
      else
        return error(
          `retire-channel-key: no later key of secure channel '${name}' is in use on every endpoint yet${waitS ? ` (waited ${waitS} s)` : ''}; ${describeKeys(ch)}; wait (wait_seconds), or force`,
        );
    }
    const retired: string[] = [];
    for (const t of targets) {
      const res = await h.about(`secure channel '${name}'`, () =>
        h.heartbeat(
          h.withRetry(
            () => client.retireChannelKey({ channelId: name, ckn: t, force, allowMissing: true }, timeoutS * 1000),
            30_000,
            (m) => ctx.progress(m),
          ),
          ctx,
          `retire-channel-key '${name}'`,
        ),
      );
      if (res.existed) retired.push(t);
      ch = res.channel ?? ch;
    }
    const note = forgetKeptPsk(h.stateDir, name, targets);
    const what = retired.length
      ? `retired key${retired.length > 1 ? 's' : ''} ${retired.join(', ')} of secure channel '${name}'`
      : `no such key of '${name}' left: nothing to retire`;
    return ok(`${what}${note}; ${describeKeys(ch)}${h.ignored(p)}`);
  };

  return { 'add-channel-key': addChannelKey, 'retire-channel-key': retireChannelKey };
}

/** A PSK kept for the VNF side whose key was retired is deleted: that key no longer exists. */
function forgetKeptPsk(stateDir: string | undefined, name: string, ckns: string[]): string {
  if (!stateDir || !NAME_RE.test(name)) return '';
  const f = join(stateDir, 'psk', `${name}.json`);
  if (!existsSync(f)) return '';
  try {
    const kept = JSON.parse(readFileSync(f, 'utf8')) as { ckn_hex?: unknown };
    if (typeof kept.ckn_hex !== 'string' || !ckns.includes(kept.ckn_hex.toLowerCase())) return '';
  } catch {
    return '';
  }
  rmSync(f, { force: true });
  return `; the generated PSK kept for the VNF side (${clip(f, 120)}) was that key and is deleted`;
}
