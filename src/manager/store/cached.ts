/**
 * A write-through cache in front of any Store. The manager is the only writer of its store, so
 * reads (which happen on every agent status report and every desired-state push) can be served
 * from memory; writes go to the backing store first and then update the cache.
 */
import type { Endpoint } from '../model.js';
import type { Store, StoredAgent, StoredChannel, StoredPort } from './store.js';

export class CachedStore implements Store {
  private agents: Map<string, StoredAgent> | undefined;
  private ports: Map<string, StoredPort> | undefined;
  private channels: StoredChannel[] | undefined;

  constructor(readonly backing: Store) {}

  get storeId(): string {
    return this.backing.storeId;
  }

  private agentMap(): Map<string, StoredAgent> {
    return (this.agents ??= new Map(this.backing.listAgents().map((a) => [a.id, a])));
  }
  private portMap(): Map<string, StoredPort> {
    return (this.ports ??= new Map(this.backing.listPorts().map((p) => [p.id, p])));
  }
  private channelList(): StoredChannel[] {
    return (this.channels ??= this.backing.listChannels());
  }

  getAgent(id: string): StoredAgent | undefined {
    return this.agentMap().get(id);
  }
  listAgents(): StoredAgent[] {
    return [...this.agentMap().values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
  putAgent(a: StoredAgent): void {
    this.backing.putAgent(a);
    this.agentMap().set(a.id, a);
  }

  getPort(id: string): StoredPort | undefined {
    return this.portMap().get(id);
  }
  listPorts(agentId?: string): StoredPort[] {
    const all = [...this.portMap().values()].filter((p) => !agentId || p.agentId === agentId);
    return all.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }
  putPort(p: StoredPort): void {
    this.backing.putPort(p);
    this.portMap().set(p.id, p);
  }
  deletePort(id: string): boolean {
    const r = this.backing.deletePort(id);
    this.portMap().delete(id);
    return r;
  }

  getChannel(idOrName: string): StoredChannel | undefined {
    const l = this.channelList();
    return l.find((c) => c.id === idOrName) ?? l.find((c) => c.name === idOrName);
  }
  listChannels(): StoredChannel[] {
    return this.channelList();
  }
  putChannel(c: StoredChannel): void {
    this.backing.putChannel(c);
    this.channels = [...this.channelList().filter((x) => x.id !== c.id), c].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
  setChannelEndpoints(id: string, endpoints: Endpoint[]): boolean {
    const r = this.backing.setChannelEndpoints(id, endpoints);
    this.channels = this.channelList().map((c) => (c.id === id ? { ...c, endpoints } : c));
    return r;
  }
  deleteChannel(id: string): boolean {
    const r = this.backing.deleteChannel(id);
    this.channels = this.channelList().filter((c) => c.id !== id);
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
      this.agents = this.ports = this.channels = undefined; // the backing store rolled back
      throw e;
    }
  }
  close(): void {
    this.backing.close();
  }
}
