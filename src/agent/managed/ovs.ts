/**
 * Attaching macsec netdevs to Open vSwitch bridges by speaking OVSDB (RFC 7047 JSON-RPC) over
 * the ovsdb-server unix socket.
 *
 * Why OVSDB and not ovs-vsctl: ovs-vsctl is itself only an OVSDB client; talking to the database
 * directly avoids spawning a process per change (no shell, no argument quoting, no PATH
 * dependence), gives one atomic transaction per attach/detach with structured errors, and keeps the
 * agent's product path free of subprocesses, like the rest of it (no `ip`, no `wpa_cli`).
 */
import { connect, type Socket } from 'node:net';

export interface OvsClient {
  /** Adds `ifname` as a port of `bridge` (idempotent). */
  addPort(bridge: string, ifname: string): Promise<void>;
  /** Removes port `ifname` from `bridge` (idempotent). */
  delPort(bridge: string, ifname: string): Promise<void>;
  listPorts(bridge: string): Promise<string[]>;
  close(): void;
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

export const DEFAULT_OVSDB_SOCKET = '/var/run/openvswitch/db.sock';

export class OvsdbClient implements OvsClient {
  private sock: Socket | undefined;
  private buf = '';
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(v: Json): void; reject(e: Error): void }>();

  constructor(
    private readonly socketPath = DEFAULT_OVSDB_SOCKET,
    private readonly timeoutMs = 5000,
  ) {}

  private async conn(): Promise<Socket> {
    if (this.sock && !this.sock.destroyed) return this.sock;
    const sock = connect(this.socketPath);
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => this.onData(d));
    const fail = (e: Error) => {
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
      this.sock = undefined;
      this.buf = '';
    };
    sock.on('error', fail);
    sock.on('close', () => fail(new Error('ovsdb connection closed')));
    this.sock = sock;
    return sock;
  }

  /** Splits the byte stream into complete JSON values (OVSDB sends them back to back). */
  private onData(d: string): void {
    this.buf += d;
    let depth = 0;
    let inStr = false;
    let esc = false;
    let start = 0;
    for (let i = 0; i < this.buf.length; i++) {
      const c = this.buf[i];
      if (inStr) {
        if (esc) esc = false;
        else if (c === '\\') esc = true;
        else if (c === '"') inStr = false;
        continue;
      }
      if (c === '"') inStr = true;
      else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0) {
          this.onMessage(JSON.parse(this.buf.slice(start, i + 1)));
          start = i + 1;
        }
      } else if (depth === 0 && /\s/.test(c!)) start = i + 1;
    }
    this.buf = this.buf.slice(start);
  }

  private onMessage(m: { id: Json; method?: string; params?: Json; result?: Json; error?: Json }): void {
    if (m.method === 'echo') {
      this.sock?.write(JSON.stringify({ id: m.id, result: m.params ?? [], error: null }));
      return;
    }
    if (typeof m.id !== 'number') return;
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (m.error) p.reject(new Error(`ovsdb: ${JSON.stringify(m.error)}`));
    else p.resolve(m.result ?? null);
  }

  private async call(method: string, params: Json[]): Promise<Json> {
    const sock = await this.conn();
    const id = this.nextId++;
    return new Promise<Json>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`ovsdb ${method} timed out`));
      }, this.timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      sock.write(JSON.stringify({ id, method, params }));
    });
  }

  private async transact(ops: Json[]): Promise<Array<{ [k: string]: Json }>> {
    const res = (await this.call('transact', ['Open_vSwitch', ...ops])) as Array<{ [k: string]: Json }>;
    const err = res.find((r) => r && r.error);
    if (err) throw new Error(`ovsdb transaction failed: ${String(err.error)}${err.details ? `: ${String(err.details)}` : ''}`);
    return res;
  }

  private async bridge(bridge: string): Promise<{ uuid: string; ports: string[] }> {
    const [r] = await this.transact([{ op: 'select', table: 'Bridge', where: [['name', '==', bridge]], columns: ['_uuid', 'ports'] }]);
    const rows = (r!.rows as Array<{ _uuid: Json; ports: Json }>) ?? [];
    if (rows.length === 0) throw new Error(`OVS bridge '${bridge}' does not exist`);
    return { uuid: (rows[0]!._uuid as string[])[1]!, ports: uuidSet(rows[0]!.ports) };
  }

  async listPorts(bridge: string): Promise<string[]> {
    const b = await this.bridge(bridge);
    if (b.ports.length === 0) return [];
    const [r] = await this.transact([{ op: 'select', table: 'Port', where: [], columns: ['_uuid', 'name'] }]);
    return ((r!.rows as Array<{ _uuid: Json; name: Json }>) ?? [])
      .filter((row) => b.ports.includes((row._uuid as string[])[1]!))
      .map((row) => row.name as string)
      .filter((n) => n !== bridge) // the bridge's own internal port, as ovs-vsctl list-ports does
      .sort();
  }

  async addPort(bridge: string, ifname: string): Promise<void> {
    const b = await this.bridge(bridge);
    const [existing] = await this.transact([{ op: 'select', table: 'Port', where: [['name', '==', ifname]], columns: ['_uuid'] }]);
    const rows = (existing!.rows as Array<{ _uuid: Json }>) ?? [];
    if (rows.length) {
      const uuid = (rows[0]!._uuid as string[])[1]!;
      if (b.ports.includes(uuid)) return;
      throw new Error(`OVS port '${ifname}' already exists on another bridge`);
    }
    await this.transact([
      { op: 'insert', table: 'Interface', row: { name: ifname }, 'uuid-name': 'iface' },
      { op: 'insert', table: 'Port', row: { name: ifname, interfaces: ['named-uuid', 'iface'] }, 'uuid-name': 'port' },
      { op: 'mutate', table: 'Bridge', where: [['name', '==', bridge]], mutations: [['ports', 'insert', ['set', [['named-uuid', 'port']]]]] },
      { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 1]] },
    ]);
  }

  async delPort(bridge: string, ifname: string): Promise<void> {
    const b = await this.bridge(bridge);
    const [existing] = await this.transact([{ op: 'select', table: 'Port', where: [['name', '==', ifname]], columns: ['_uuid'] }]);
    const rows = (existing!.rows as Array<{ _uuid: Json }>) ?? [];
    if (!rows.length) return;
    const uuid = (rows[0]!._uuid as string[])[1]!;
    if (!b.ports.includes(uuid)) return;
    // Port and Interface are not root tables: once no bridge references them, OVSDB deletes them.
    await this.transact([
      { op: 'mutate', table: 'Bridge', where: [['name', '==', bridge]], mutations: [['ports', 'delete', ['set', [['uuid', uuid]]]]] },
      { op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['next_cfg', '+=', 1]] },
    ]);
  }

  close(): void {
    this.sock?.destroy();
    this.sock = undefined;
  }
}

function uuidSet(v: Json): string[] {
  if (Array.isArray(v) && v[0] === 'uuid') return [v[1] as string];
  if (Array.isArray(v) && v[0] === 'set') return (v[1] as Json[]).map((u) => (u as string[])[1]!);
  return [];
}
