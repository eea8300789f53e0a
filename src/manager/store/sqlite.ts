/**
 * Store on SQLite (better-sqlite3 12; 13 crashes on Node 20). The file is created with mode 0600:
 * it holds CAKs. A store is only created when asked (`create`): a missing file is an error, never
 * an empty desired state, because a manager with an empty state would stop every running port.
 */
import { MacsecError } from '../../common/errors.js';
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { channelOfPort } from '../desired.js';
import type { Endpoint } from '../model.js';
import type { Store, StoredAgent, StoredChannel, StoredPort } from './store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS agents (
  id TEXT PRIMARY KEY, version TEXT NOT NULL, capabilities TEXT NOT NULL, interfaces TEXT NOT NULL,
  first_seen_ms INTEGER NOT NULL, last_seen_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS ports (
  id TEXT PRIMARY KEY, agent_id TEXT NOT NULL, interface TEXT NOT NULL, mode INTEGER NOT NULL,
  policy TEXT NOT NULL, ovs_bridge TEXT NOT NULL, radius TEXT, created_ms INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS ports_agent ON ports(agent_id);
CREATE TABLE IF NOT EXISTS channels (
  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, endpoints TEXT NOT NULL, cak BLOB NOT NULL,
  ckn BLOB NOT NULL, key_id TEXT NOT NULL, created_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS channel_keys (
  channel_id TEXT NOT NULL, position INTEGER NOT NULL, cak BLOB NOT NULL, ckn BLOB NOT NULL,
  key_id TEXT NOT NULL, start_ms INTEGER NOT NULL, lifetime_s INTEGER NOT NULL,
  created_ms INTEGER NOT NULL, request_id TEXT NOT NULL, PRIMARY KEY (channel_id, position));
`;

/** Columns added after schema version 1 (ALTER TABLE ... ADD COLUMN on open). */
const ADDED_COLUMNS: Array<[table: string, column: string, decl: string]> = [
  ['ports', 'owner', `TEXT NOT NULL DEFAULT ''`],
  ['channels', 'owner', `TEXT NOT NULL DEFAULT ''`],
  ['channels', 'request_id', `TEXT NOT NULL DEFAULT ''`],
  ['channels', 'generated_psk', 'INTEGER NOT NULL DEFAULT 0'],
  ['channels', 'committed', 'INTEGER NOT NULL DEFAULT 1'],
  // CAK key chains: the current key (key_created_ms 0: the first key, never re-keyed).
  ['channels', 'current_key_id', `TEXT NOT NULL DEFAULT ''`],
  ['channels', 'key_start_ms', 'INTEGER NOT NULL DEFAULT 0'],
  ['channels', 'key_lifetime_s', 'INTEGER NOT NULL DEFAULT 0'],
  ['channels', 'key_created_ms', 'INTEGER NOT NULL DEFAULT 0'],
  ['channels', 'key_request_id', `TEXT NOT NULL DEFAULT ''`],
];

/** The store file is missing or was never initialised, and creating one was not asked for. */
export class StoreMissingError extends MacsecError {
  constructor(path: string) {
    super(
      'store_missing',
      `store '${path}' does not exist or is not an initialised manager store; refusing to start with an empty desired state ` +
        '(that would stop every running port). Pass --init-db to create a new store, or point --db at the existing one.',
    );
  }
}

interface AgentRow {
  id: string;
  version: string;
  capabilities: string;
  interfaces: string;
  first_seen_ms: number;
  last_seen_ms: number;
}
interface PortRow {
  id: string;
  agent_id: string;
  interface: string;
  mode: number;
  policy: string;
  ovs_bridge: string;
  radius: string | null;
  created_ms: number;
  owner: string;
}
interface ChannelRow {
  id: string;
  name: string;
  endpoints: string;
  cak: Buffer;
  ckn: Buffer;
  key_id: string;
  created_ms: number;
  owner: string;
  request_id: string;
  generated_psk: number;
  committed: number;
  current_key_id: string;
  key_start_ms: number;
  key_lifetime_s: number;
  key_created_ms: number;
  key_request_id: string;
}
interface ChannelKeyRow {
  channel_id: string;
  position: number;
  cak: Buffer;
  ckn: Buffer;
  key_id: string;
  start_ms: number;
  lifetime_s: number;
  created_ms: number;
  request_id: string;
}

export interface SqliteStoreOptions {
  /** Create and initialise the store when the file is missing or empty (operator's --init-db). */
  create?: boolean;
}

export class SqliteStore implements Store {
  private readonly db: Database.Database;
  readonly storeId: string;

  constructor(
    readonly path: string,
    opts: SqliteStoreOptions = {},
  ) {
    const memory = path === ':memory:';
    if (!memory && !existsSync(path)) {
      if (!opts.create) throw new StoreMissingError(path);
      writeFileSync(path, '', { mode: 0o600 });
    }
    if (!memory) chmodSync(path, 0o600);
    this.db = new Database(path, { fileMustExist: !memory });
    try {
      const initialised =
        this.stmt(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'`).get() !== undefined &&
        this.stmt(`SELECT 1 FROM meta WHERE k = 'schema_version'`).get() !== undefined;
      if (!initialised && !memory && !opts.create) throw new StoreMissingError(path);
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
      // Deleted content (retired CAKs, deleted channels) is overwritten, not left in free pages.
      this.db.pragma('secure_delete = ON');
      this.db.exec(SCHEMA);
      for (const [table, column, decl] of ADDED_COLUMNS) {
        const cols = this.stmt(`PRAGMA table_info(${table})`).all() as Array<{ name: string }>;
        if (!cols.some((c) => c.name === column)) this.db.exec(`ALTER TABLE ${table} ADD COLUMN ${column} ${decl}`);
      }
      this.stmt(`INSERT OR IGNORE INTO meta (k, v) VALUES ('schema_version', '1')`).run();
      // Stores made before store identities existed get one on first open.
      this.stmt(`INSERT OR IGNORE INTO meta (k, v) VALUES ('store_id', ?)`).run(randomUUID());
      this.storeId = (this.stmt(`SELECT v FROM meta WHERE k = 'store_id'`).get() as { v: string }).v;
    } catch (e) {
      this.db.close();
      throw e;
    }
  }

  private readonly statements = new Map<string, Database.Statement>();
  /** Prepared once per SQL text: preparing is most of the cost of a small query. */
  private stmt(sql: string): Database.Statement {
    let st = this.statements.get(sql);
    if (!st) this.statements.set(sql, (st = this.db.prepare(sql)));
    return st;
  }

  private agentOf(r: AgentRow): StoredAgent {
    return {
      id: r.id,
      version: r.version,
      capabilities: JSON.parse(r.capabilities),
      interfaces: JSON.parse(r.interfaces),
      firstSeenMs: r.first_seen_ms,
      lastSeenMs: r.last_seen_ms,
    };
  }
  private portOf(r: PortRow): StoredPort {
    return {
      id: r.id,
      agentId: r.agent_id,
      interface: r.interface,
      mode: r.mode,
      policy: JSON.parse(r.policy),
      ovsBridge: r.ovs_bridge,
      radius: r.radius ? JSON.parse(r.radius) : undefined,
      createdMs: r.created_ms,
      owner: r.owner,
    };
  }
  private channelOf(r: ChannelRow): StoredChannel {
    const next = (this.stmt('SELECT * FROM channel_keys WHERE channel_id = ? ORDER BY position').all(r.id) as ChannelKeyRow[]).map((k) => ({
      cak: new Uint8Array(k.cak),
      ckn: new Uint8Array(k.ckn),
      keyId: k.key_id,
      startMs: k.start_ms,
      lifetimeS: k.lifetime_s,
      createdMs: k.created_ms,
      requestId: k.request_id,
    }));
    return {
      id: r.id,
      name: r.name,
      endpoints: JSON.parse(r.endpoints),
      cak: new Uint8Array(r.cak),
      ckn: new Uint8Array(r.ckn),
      keyId: r.key_id,
      createdMs: r.created_ms,
      owner: r.owner,
      requestId: r.request_id,
      generatedPsk: r.generated_psk === 1,
      committed: r.committed === 1,
      ...(r.key_created_ms
        ? {
            currentKey: {
              keyId: r.current_key_id,
              startMs: r.key_start_ms,
              lifetimeS: r.key_lifetime_s,
              createdMs: r.key_created_ms,
              requestId: r.key_request_id,
            },
          }
        : {}),
      ...(next.length ? { nextKeys: next } : {}),
    };
  }

  getAgent(id: string): StoredAgent | undefined {
    const r = this.stmt('SELECT * FROM agents WHERE id = ?').get(id) as AgentRow | undefined;
    return r && this.agentOf(r);
  }
  listAgents(): StoredAgent[] {
    return (this.stmt('SELECT * FROM agents ORDER BY id').all() as AgentRow[]).map((r) => this.agentOf(r));
  }
  putAgent(a: StoredAgent): void {
    this.db
      .prepare(`INSERT INTO agents (id, version, capabilities, interfaces, first_seen_ms, last_seen_ms) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT(id) DO UPDATE SET version = excluded.version, capabilities = excluded.capabilities,
        interfaces = excluded.interfaces, last_seen_ms = excluded.last_seen_ms`)
      .run(a.id, a.version, JSON.stringify(a.capabilities), JSON.stringify(a.interfaces), a.firstSeenMs, a.lastSeenMs);
  }

  getPort(id: string): StoredPort | undefined {
    const r = this.stmt('SELECT * FROM ports WHERE id = ?').get(id) as PortRow | undefined;
    return r && this.portOf(r);
  }
  listPorts(agentId?: string): StoredPort[] {
    const rows = agentId
      ? (this.stmt('SELECT * FROM ports WHERE agent_id = ? ORDER BY id').all(agentId) as PortRow[])
      : (this.stmt('SELECT * FROM ports ORDER BY id').all() as PortRow[]);
    return rows.map((r) => this.portOf(r));
  }
  putPort(p: StoredPort): void {
    this.db
      .prepare(`INSERT OR REPLACE INTO ports (id, agent_id, interface, mode, policy, ovs_bridge, radius, created_ms, owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(p.id, p.agentId, p.interface, p.mode, JSON.stringify(p.policy), p.ovsBridge, p.radius ? JSON.stringify(p.radius) : null, p.createdMs, p.owner);
  }
  deletePort(id: string): boolean {
    return this.stmt('DELETE FROM ports WHERE id = ?').run(id).changes > 0;
  }

  getChannel(idOrName: string): StoredChannel | undefined {
    const r = this.stmt('SELECT * FROM channels WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1').get(idOrName, idOrName, idOrName) as
      | ChannelRow
      | undefined;
    return r && this.channelOf(r);
  }
  listChannels(agentId?: string): StoredChannel[] {
    const all = (this.stmt('SELECT * FROM channels ORDER BY name').all() as ChannelRow[]).map((r) => this.channelOf(r));
    return agentId === undefined ? all : all.filter((c) => c.endpoints.some((e) => e.agentId === agentId));
  }
  /** A scan: the manager reads through CachedStore, which indexes it. */
  channelOfPort(portId: string): StoredChannel | undefined {
    return channelOfPort(this.listChannels(), portId);
  }
  /** The channel and its key chain, in one transaction (a retired key's row goes with it). */
  putChannel(c: StoredChannel): void {
    this.transaction(() => {
      const k = c.currentKey;
      this.db
        .prepare(
          `INSERT OR REPLACE INTO channels (id, name, endpoints, cak, ckn, key_id, created_ms, owner, request_id, generated_psk, committed,
             current_key_id, key_start_ms, key_lifetime_s, key_created_ms, key_request_id)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          c.id,
          c.name,
          JSON.stringify(c.endpoints),
          Buffer.from(c.cak),
          Buffer.from(c.ckn),
          c.keyId,
          c.createdMs,
          c.owner,
          c.requestId,
          c.generatedPsk ? 1 : 0,
          c.committed ? 1 : 0,
          k?.keyId ?? '',
          k?.startMs ?? 0,
          k?.lifetimeS ?? 0,
          k?.createdMs ?? 0,
          k?.requestId ?? '',
        );
      this.stmt('DELETE FROM channel_keys WHERE channel_id = ?').run(c.id);
      const insert = this.stmt(
        `INSERT INTO channel_keys (channel_id, position, cak, ckn, key_id, start_ms, lifetime_s, created_ms, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      );
      (c.nextKeys ?? []).forEach((n, i) =>
        insert.run(c.id, i, Buffer.from(n.cak), Buffer.from(n.ckn), n.keyId, n.startMs, n.lifetimeS, n.createdMs, n.requestId),
      );
    });
  }
  setChannelEndpoints(id: string, endpoints: Endpoint[]): boolean {
    return this.stmt('UPDATE channels SET endpoints = ? WHERE id = ?').run(JSON.stringify(endpoints), id).changes > 0;
  }
  deleteChannel(id: string): boolean {
    return this.transaction(() => {
      this.stmt('DELETE FROM channel_keys WHERE channel_id = ?').run(id);
      return this.stmt('DELETE FROM channels WHERE id = ?').run(id).changes > 0;
    });
  }

  wipeDeleted(): void {
    // secure_delete zeroes what a delete frees in the database pages; older page images (with the
    // deleted CAKs) can still sit in the write-ahead log: copy it back and empty it.
    if (this.path !== ':memory:') this.db.pragma('wal_checkpoint(TRUNCATE)');
  }

  reserveSeq(n: number): number {
    return this.transaction(() => {
      const r = this.stmt(`SELECT v FROM meta WHERE k = 'event_seq'`).get() as { v: string } | undefined;
      const first = r ? Number(r.v) + 1 : 1;
      this.stmt(`INSERT OR REPLACE INTO meta (k, v) VALUES ('event_seq', ?)`).run(String(first + n - 1));
      return first;
    });
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {
    this.db.close();
  }
}
