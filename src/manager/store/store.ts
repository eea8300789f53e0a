/**
 * The manager's desired state, behind one interface: SQLite (sqlite.ts, the embedded default)
 * or an etcd cluster shared by manager replicas (etcd.ts). Everything here is desired or durable state; live status (what agents
 * report) is kept in memory by the manager and rebuilt from agents after a restart.
 */
import type { Endpoint } from '../model.js';
import type { InterfaceInfo, PortMode, PortPolicy, RadiusSettings } from '../../control/gen/macsec/v1/types.js';

export interface StoredAgent {
  id: string;
  version: string;
  capabilities: string[];
  interfaces: InterfaceInfo[];
  firstSeenMs: number;
  lastSeenMs: number;
}

export interface StoredPort {
  /** `${agentId}/${interface}` */
  id: string;
  agentId: string;
  interface: string;
  mode: PortMode;
  policy: PortPolicy;
  ovsBridge: string;
  radius: RadiusSettings | undefined;
  createdMs: number;
  /** Principal label of whoever opened it (an orchestrator may only close its own ports). */
  owner: string;
}

/** One key of a channel's key chain. Secret: never logged or returned. */
export interface StoredChannelKey {
  cak: Uint8Array;
  ckn: Uint8Array;
  /** Random id of this key, part of the fingerprints of the channel's PSK ports. */
  keyId: string;
  /** Unix ms from which agents run it. */
  startMs: number;
  /** 0: no lifetime; else seconds after startMs at which it expires. */
  lifetimeS: number;
  createdMs: number;
  /** Client idempotency key of the AddChannelKey call ("" = none, or the channel's first key). */
  requestId: string;
}

/** The current key of a channel's key chain, but its material (StoredChannel.cak and ckn). */
export type CurrentKey = Omit<StoredChannelKey, 'cak' | 'ckn'>;

export interface StoredChannel {
  id: string;
  name: string;
  endpoints: Endpoint[];
  /** PSK material (CAK, CKN) for the channel's PSK ports. Secret: never logged or returned. */
  cak: Uint8Array;
  ckn: Uint8Array;
  /**
   * Random id of the channel's first key, part of port fingerprints (so a new channel key means a
   * new session). Never changes: a key chain's later keys are in the fingerprints of PSK ports.
   */
  keyId: string;
  createdMs: number;
  /** Principal label of the creator (an orchestrator may only change its own channels). */
  owner: string;
  /** Client idempotency key of the create call ("" = none). */
  requestId: string;
  /** The manager generated the CAK (so a retry with the same request id returns it again); false once that key is retired. */
  generatedPsk: boolean;
  /**
   * False between storing and the agents' acknowledgement. A manager that restarts with
   * uncommitted channels without request id rolls them back: nobody got their result.
   */
  committed: boolean;
  /**
   * CAK key chain: the current key (cak, ckn above): its id and when it runs. Absent: the first
   * key (id keyId), from the channel's creation, without lifetime (a channel never re-keyed).
   */
  currentKey?: CurrentKey;
  /** CAK key chain: the next keys, by start time (absent or empty: none). */
  nextKeys?: StoredChannelKey[];
}

export interface Store {
  /** Random identity of this store, made when it was initialised; agents tag their ports with it. */
  readonly storeId: string;
  /** Other manager processes write this store too (etcd); SQLite has one writer. */
  readonly shared?: boolean;

  getAgent(id: string): StoredAgent | undefined;
  listAgents(): StoredAgent[];
  putAgent(a: StoredAgent): void;

  getPort(id: string): StoredPort | undefined;
  /** By id; with an agent id, only that agent's. */
  listPorts(agentId?: string): StoredPort[];
  putPort(p: StoredPort): void;
  deletePort(id: string): boolean;

  getChannel(idOrName: string): StoredChannel | undefined;
  /** By name; with an agent id, only the channels with an endpoint on that agent. */
  listChannels(agentId?: string): StoredChannel[];
  /** The channel a port belongs to (a port is in at most one). */
  channelOfPort(portId: string): StoredChannel | undefined;
  putChannel(c: StoredChannel): void;
  /** Replaces a channel's endpoints (nothing else: key, ids and owner stay); false when there is no such channel. */
  setChannelEndpoints(id: string, endpoints: Endpoint[]): boolean;
  deleteChannel(id: string): boolean;

  /** Reserves `n` event sequence numbers; returns the first. Survives restarts. */
  reserveSeq(n: number): number;

  /**
   * Makes deleted rows (retired CAKs, deleted channels) unrecoverable from the store's files
   * where the backend can (SQLite: secure_delete is on; this also empties the write-ahead log).
   */
  wipeDeleted(): void;

  /** Runs fn atomically. */
  transaction<T>(fn: () => T): T;
  /**
   * Resolves once every write made before the call is durable; rejects (`aborted`: another
   * replica changed the same state first; `unavailable`) when one was not, and then the store's
   * view is the durable state again. SQLite writes are durable when they return.
   */
  flush(): Promise<void>;
  /**
   * Changes made by other writers of a shared store (etcd), after they were applied to the view;
   * CachedStore adds the agents whose desired state the change may alter (undefined: any).
   */
  /** A shared store's version of the view (etcd revision); replicas compare acknowledgements with it. */
  revision?(): number;
  /** Shared stores: the revision of the newest change to this agent's desired state. */
  revisionFor?(agentId: string): number;
  onChange?(fn: (c: StoreChange, agents?: string[]) => void): void;
  close(): void;
}

/** One record changed by another writer, or `reset`: the whole view was reloaded. */
export type StoreChange = { kind: 'agent' | 'port' | 'channel'; id: string } | { kind: 'reset' };

export const portId = (agentId: string, iface: string): string => `${agentId}/${iface}`;
