/**
 * What this execution environment itself created: the secure channels it created and the switch
 * ports it opened for them. Unauthenticated (plaintext) callers may only read, rekey, delete and
 * close what is recorded here (primitives.ts). Kept in <stateDir>/owned.json (mode 0600) when a
 * state directory is set, so the record survives EE restarts; in memory otherwise.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface OwnedChannel {
  /** This EE created the channel (not only opened ports for it). */
  created: boolean;
  /** Port ids ("agent/interface") this EE opened for the channel. */
  ports: string[];
  /** The channel was deleted through this EE; a retried delete is then "nothing to delete". */
  deleted?: boolean;
}

/** At most this many channels are remembered (oldest deleted ones are forgotten first). */
const MAX_ENTRIES = 4096;

export class OwnedChannels {
  private readonly map = new Map<string, OwnedChannel>();

  constructor(private readonly stateDir?: string) {
    if (!stateDir) return;
    const f = join(stateDir, 'owned.json');
    if (!existsSync(f)) return;
    try {
      const o = JSON.parse(readFileSync(f, 'utf8')) as Record<string, OwnedChannel>;
      for (const [k, v] of Object.entries(o)) {
        if (v && typeof v === 'object' && Array.isArray(v.ports))
          this.map.set(k, { created: !!v.created, ports: v.ports.map(String), ...(v.deleted ? { deleted: true } : {}) });
      }
    } catch {
      /* unreadable: start empty (plaintext callers then may touch nothing) */
    }
  }

  get(name: string): OwnedChannel | undefined {
    return this.map.get(name);
  }

  /** A live channel this EE created. */
  isOwned(name: string): boolean {
    const e = this.map.get(name);
    return !!e && e.created && !e.deleted;
  }

  /** Port ids this EE opened (for any of its channels). */
  openedPorts(): Set<string> {
    const s = new Set<string>();
    for (const e of this.map.values()) for (const p of e.ports) s.add(p);
    return s;
  }

  addPort(name: string, portId: string): void {
    const e = this.map.get(name) ?? { created: false, ports: [] };
    if (!e.ports.includes(portId)) e.ports.push(portId);
    this.map.set(name, e);
    this.save();
  }

  markCreated(name: string): void {
    const e = this.map.get(name) ?? { created: false, ports: [] };
    e.created = true;
    delete e.deleted;
    this.map.set(name, e);
    this.save();
  }

  markDeleted(name: string): void {
    const e = this.map.get(name);
    if (!e) return;
    e.deleted = true;
    this.save();
  }

  forgetPorts(name: string, portIds: string[]): void {
    const e = this.map.get(name);
    if (!e) return;
    e.ports = e.ports.filter((p) => !portIds.includes(p));
    this.save();
  }

  private save(): void {
    while (this.map.size > MAX_ENTRIES) {
      const victim = [...this.map.entries()].find(([, v]) => v.deleted && v.ports.length === 0)?.[0] ?? this.map.keys().next().value!;
      this.map.delete(victim);
    }
    if (!this.stateDir) return;
    mkdirSync(this.stateDir, { recursive: true, mode: 0o700 });
    const f = join(this.stateDir, 'owned.json');
    writeFileSync(`${f}.tmp`, JSON.stringify(Object.fromEntries(this.map)), { mode: 0o600 });
    renameSync(`${f}.tmp`, f);
  }
}
