/** Store on SQLite (better-sqlite3 12; 13 crashes on Node 20). The file is created with mode 0600: it holds CAKs. */
import Database from 'better-sqlite3';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
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
`;

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
}
interface ChannelRow {
  id: string;
  name: string;
  endpoints: string;
  cak: Buffer;
  ckn: Buffer;
  key_id: string;
  created_ms: number;
}

export class SqliteStore implements Store {
  private readonly db: Database.Database;

  constructor(readonly path: string) {
    if (path !== ':memory:' && !existsSync(path)) writeFileSync(path, '', { mode: 0o600 });
    if (path !== ':memory:') chmodSync(path, 0o600);
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    this.db.prepare(`INSERT OR IGNORE INTO meta (k, v) VALUES ('schema_version', '1')`).run();
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
    };
  }
  private channelOf(r: ChannelRow): StoredChannel {
    return {
      id: r.id,
      name: r.name,
      endpoints: JSON.parse(r.endpoints),
      cak: new Uint8Array(r.cak),
      ckn: new Uint8Array(r.ckn),
      keyId: r.key_id,
      createdMs: r.created_ms,
    };
  }

  getAgent(id: string): StoredAgent | undefined {
    const r = this.db.prepare('SELECT * FROM agents WHERE id = ?').get(id) as AgentRow | undefined;
    return r && this.agentOf(r);
  }
  listAgents(): StoredAgent[] {
    return (this.db.prepare('SELECT * FROM agents ORDER BY id').all() as AgentRow[]).map((r) => this.agentOf(r));
  }
  putAgent(a: StoredAgent): void {
    this.db
      .prepare(`INSERT INTO agents (id, version, capabilities, interfaces, first_seen_ms, last_seen_ms) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT(id) DO UPDATE SET version = excluded.version, capabilities = excluded.capabilities,
        interfaces = excluded.interfaces, last_seen_ms = excluded.last_seen_ms`)
      .run(a.id, a.version, JSON.stringify(a.capabilities), JSON.stringify(a.interfaces), a.firstSeenMs, a.lastSeenMs);
  }

  getPort(id: string): StoredPort | undefined {
    const r = this.db.prepare('SELECT * FROM ports WHERE id = ?').get(id) as PortRow | undefined;
    return r && this.portOf(r);
  }
  listPorts(agentId?: string): StoredPort[] {
    const rows = agentId
      ? (this.db.prepare('SELECT * FROM ports WHERE agent_id = ? ORDER BY id').all(agentId) as PortRow[])
      : (this.db.prepare('SELECT * FROM ports ORDER BY id').all() as PortRow[]);
    return rows.map((r) => this.portOf(r));
  }
  putPort(p: StoredPort): void {
    this.db
      .prepare(`INSERT OR REPLACE INTO ports (id, agent_id, interface, mode, policy, ovs_bridge, radius, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(p.id, p.agentId, p.interface, p.mode, JSON.stringify(p.policy), p.ovsBridge, p.radius ? JSON.stringify(p.radius) : null, p.createdMs);
  }
  deletePort(id: string): boolean {
    return this.db.prepare('DELETE FROM ports WHERE id = ?').run(id).changes > 0;
  }

  getChannel(idOrName: string): StoredChannel | undefined {
    const r = this.db.prepare('SELECT * FROM channels WHERE id = ? OR name = ? ORDER BY id = ? DESC LIMIT 1').get(idOrName, idOrName, idOrName) as
      | ChannelRow
      | undefined;
    return r && this.channelOf(r);
  }
  listChannels(): StoredChannel[] {
    return (this.db.prepare('SELECT * FROM channels ORDER BY name').all() as ChannelRow[]).map((r) => this.channelOf(r));
  }
  putChannel(c: StoredChannel): void {
    this.db
      .prepare(`INSERT OR REPLACE INTO channels (id, name, endpoints, cak, ckn, key_id, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?)`)
      .run(c.id, c.name, JSON.stringify(c.endpoints), Buffer.from(c.cak), Buffer.from(c.ckn), c.keyId, c.createdMs);
  }
  deleteChannel(id: string): boolean {
    return this.db.prepare('DELETE FROM channels WHERE id = ?').run(id).changes > 0;
  }

  reserveSeq(n: number): number {
    return this.transaction(() => {
      const r = this.db.prepare(`SELECT v FROM meta WHERE k = 'event_seq'`).get() as { v: string } | undefined;
      const first = r ? Number(r.v) + 1 : 1;
      this.db.prepare(`INSERT OR REPLACE INTO meta (k, v) VALUES ('event_seq', ?)`).run(String(first + n - 1));
      return first;
    });
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  close(): void {
    this.db.close();
  }
}
