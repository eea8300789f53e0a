/**
 * A write-through cache in front of any Store, with the indexes the manager's hot paths need.
 * The manager is the only writer of its store, so reads (on every agent status report, every
 * desired-state push, every list call) are served from memory; writes go to the backing store
 * first and then update the cache. Every lookup the manager makes per port, per channel or per
 * agent is a map access, so no call grows with the size of the fabric beyond what it returns:
 * ports by agent, the channel of a port, the channels of an agent, channels by id and by name.
 * Sorted lists are computed once after a change and shared until the next one (callers never
 * mutate them).
 */
import { endpointKey } from '../desired.js';
import type { Endpoint } from '../model.js';
import type { Store, StoreChange, StoredAgent, StoredChannel, StoredPort } from './store.js';

const byId = <T extends { id: string }>(a: T, b: T) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
const byName = (a: StoredChannel, b: StoredChannel) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

class Index<V> {
  private readonly m = new Map<string, Set<V>>();
  add(k: string, v: V): void {
    let s = this.m.get(k);
    if (!s) this.m.set(k, (s = new Set()));
    s.add(v);
  }
  remove(k: string, v: V): void {
    const s = this.m.get(k);
    if (s?.delete(v) && !s.size) this.m.delete(k);
  }
  get(k: string): ReadonlySet<V> {
    return this.m.get(k) ?? new Set();
  }
}

interface View {
  agents: Map<string, StoredAgent>;
  ports: Map<string, StoredPort>;
  portsOfAgent: Index<string>;
  channels: Map<string, StoredChannel>;
  channelByName: Map<string, string>;
  channelOfPort: Map<string, string>;
  channelsOfAgent: Index<string>;
}

export class CachedStore implements Store {
  private v: View | undefined;
  private sortedAgents: StoredAgent[] | undefined;
  private sortedPorts: StoredPort[] | undefined;
  private sortedChannels: StoredChannel[] | undefined;

  constructor(readonly backing: Store) {
    backing.onChange?.((c) => this.applyChange(c));
  }

  /**
   * Another writer changed the backing store (its view already has the change): follow it, and
   * tell listeners which agents' desired state it may change (undefined: any agent's).
   */
  private applyChange(c: StoreChange): void {
    let agents: string[] | undefined;
    if (c.kind === 'reset' || !this.v) {
      this.v = this.sortedAgents = this.sortedPorts = this.sortedChannels = undefined;
    } else if (c.kind === 'agent') {
      const a = this.backing.getAgent(c.id);
      if (a) this.v.agents.set(c.id, a);
      else this.v.agents.delete(c.id);
      this.sortedAgents = undefined;
      agents = [];
    } else if (c.kind === 'port') {
      const p = this.backing.getPort(c.id);
      agents = [this.v.ports.get(c.id)?.agentId, p?.agentId].filter((x): x is string => !!x);
      if (p) this.indexPort(p);
      else this.unindexPort(c.id);
    } else {
      const ch = this.backing.getChannel(c.id);
      const fresh = ch && ch.id === c.id ? ch : undefined;
      agents = [...(this.v.channels.get(c.id)?.endpoints ?? []), ...(fresh?.endpoints ?? [])].map((e) => e.agentId);
      if (fresh) this.indexChannel(fresh);
      else this.unindexChannel(c.id);
    }
    for (const l of this.listeners) l(c, agents && [...new Set(agents)]);
  }
  private readonly listeners: Array<(c: StoreChange, agents?: string[]) => void> = [];
  onChange(fn: (c: StoreChange, agents?: string[]) => void): void {
    this.listeners.push(fn);
  }

  get storeId(): string {
    return this.backing.storeId;
  }
  get shared(): boolean {
    return !!this.backing.shared;
  }
  revision(): number {
    return this.backing.revision?.() ?? 0;
  }
  revisionFor(agentId: string): number {
    return this.backing.revisionFor?.(agentId) ?? this.revision();
  }

  private view(): View {
    if (this.v) return this.v;
    const v: View = {
      agents: new Map(),
      ports: new Map(),
      portsOfAgent: new Index(),
      channels: new Map(),
      channelByName: new Map(),
      channelOfPort: new Map(),
      channelsOfAgent: new Index(),
    };
    this.v = v;
    for (const a of this.backing.listAgents()) v.agents.set(a.id, a);
    for (const p of this.backing.listPorts()) this.indexPort(p);
    for (const c of this.backing.listChannels()) this.indexChannel(c);
    return v;
  }

  private indexPort(p: StoredPort): void {
    const v = this.view();
    const old = v.ports.get(p.id);
    if (old) v.portsOfAgent.remove(old.agentId, old.id);
    v.ports.set(p.id, p);
    v.portsOfAgent.add(p.agentId, p.id);
    this.sortedPorts = undefined;
  }
  private unindexPort(id: string): void {
    const v = this.view();
    const old = v.ports.get(id);
    if (!old) return;
    v.ports.delete(id);
    v.portsOfAgent.remove(old.agentId, id);
    this.sortedPorts = undefined;
  }
  private indexChannel(c: StoredChannel): void {
    this.unindexChannel(c.id);
    const v = this.view();
    v.channels.set(c.id, c);
    v.channelByName.set(c.name, c.id);
    for (const e of c.endpoints) {
      v.channelOfPort.set(endpointKey(e), c.id);
      v.channelsOfAgent.add(e.agentId, c.id);
    }
    this.sortedChannels = undefined;
  }
  private unindexChannel(id: string): void {
    const v = this.view();
    const old = v.channels.get(id);
    if (!old) return;
    v.channels.delete(id);
    if (v.channelByName.get(old.name) === id) v.channelByName.delete(old.name);
    for (const e of old.endpoints) {
      const k = endpointKey(e);
      if (v.channelOfPort.get(k) === id) v.channelOfPort.delete(k);
      v.channelsOfAgent.remove(e.agentId, id);
    }
    this.sortedChannels = undefined;
  }

  getAgent(id: string): StoredAgent | undefined {
    return this.view().agents.get(id);
  }
  listAgents(): StoredAgent[] {
    return (this.sortedAgents ??= [...this.view().agents.values()].sort(byId));
  }
  putAgent(a: StoredAgent): void {
    this.backing.putAgent(a);
    this.view().agents.set(a.id, a);
    this.sortedAgents = undefined;
  }

  getPort(id: string): StoredPort | undefined {
    return this.view().ports.get(id);
  }
  listPorts(agentId?: string): StoredPort[] {
    const v = this.view();
    if (agentId === undefined) return (this.sortedPorts ??= [...v.ports.values()].sort(byId));
    return [...v.portsOfAgent.get(agentId)].map((id) => v.ports.get(id)!).sort(byId);
  }
  putPort(p: StoredPort): void {
    this.backing.putPort(p);
    this.indexPort(p);
  }
  deletePort(id: string): boolean {
    const r = this.backing.deletePort(id);
    this.unindexPort(id);
    return r;
  }

  getChannel(idOrName: string): StoredChannel | undefined {
    const v = this.view();
    return v.channels.get(idOrName) ?? v.channels.get(v.channelByName.get(idOrName) ?? '');
  }
  listChannels(agentId?: string): StoredChannel[] {
    const v = this.view();
    if (agentId === undefined) return (this.sortedChannels ??= [...v.channels.values()].sort(byName));
    return [...v.channelsOfAgent.get(agentId)].map((id) => v.channels.get(id)!).sort(byName);
  }
  channelOfPort(portId: string): StoredChannel | undefined {
    const v = this.view();
    const id = v.channelOfPort.get(portId);
    return id === undefined ? undefined : v.channels.get(id);
  }
  putChannel(c: StoredChannel): void {
    this.backing.putChannel(c);
    this.indexChannel(c);
  }
  setChannelEndpoints(id: string, endpoints: Endpoint[]): boolean {
    const r = this.backing.setChannelEndpoints(id, endpoints);
    const c = this.view().channels.get(id);
    if (c) this.indexChannel({ ...c, endpoints });
    return r;
  }
  deleteChannel(id: string): boolean {
    const r = this.backing.deleteChannel(id);
    this.unindexChannel(id);
    return r;
  }

  wipeDeleted(): void {
    this.backing.wipeDeleted();
  }

  reserveSeq(n: number): number {
    return this.backing.reserveSeq(n);
  }
  transaction<T>(fn: () => T): T {
    try {
      return this.backing.transaction(fn);
    } catch (e) {
      // the backing store rolled back: rebuild the view from it
      this.v = this.sortedAgents = this.sortedPorts = this.sortedChannels = undefined;
      throw e;
    }
  }
  flush(): Promise<void> {
    return this.backing.flush();
  }
  close(): void {
    this.backing.close();
  }
}
