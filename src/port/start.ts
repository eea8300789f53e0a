/**
 * startPort: the one way a port runs, for both agents and every kind of port. It opens the
 * port's I/O through the PortIo ops table, runs a KaY on it (PSK) or 802.1X driving per-session
 * KaYs (EAP, EapMkaPort), and reports one event stream: the KaY's events, plus `secured` /
 * `unsecured` derived from them the same way for every kind (SecuredState), `authenticated`
 * for EAP ports and `changed` when only status() changed.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../common/log.js';
import type { CakConfig, KayCounters, KayEvent, KayStatus } from '../mka/kay-types.js';
import { defaultKayFactory, driveKay, type DriverEvent, type KayDriver, type KayFactory, type KayLike } from './driver.js';
import { EapMkaPort, type EapMkaPortStatus } from './eap-mka-port.js';
import { openPortIo, type PortIo, type SecyHandle } from './io.js';
import type { SciPorts } from './sci-ports.js';
import { kayConfig, kaySettings, type PortKind, type PortSpec } from './spec.js';

export interface StartDeps {
  io: PortIo;
  /** Already scoped to the port. */
  log: Logger;
  kayFactory?: KayFactory;
  /** Monotonic clock for the KaY drivers (tests). */
  clock?: () => number;
  /**
   * The agent's SCI port identifiers (one instance per agent process), so that ports sharing a
   * MAC get distinct SCIs. Absent: the spec's `sciPort`, else 1.
   */
  sciPorts?: SciPorts;
}

export type PortEvent =
  | Exclude<DriverEvent, { kind: 'secured' | 'unsecured' }>
  | { kind: 'secured'; ki: string }
  | { kind: 'unsecured'; reason: string }
  | { kind: 'authenticated'; identity: string; peer: string; ckn: string }
  | { kind: 'changed' };

export interface PortSnapshot {
  kind: PortKind;
  secured: boolean;
  kay: KayStatus | null;
  counters: KayCounters | null;
  /** KaY events so far, by kind, over every session of the port. */
  mkaEvents: Record<string, number>;
  /** 802.1X side (EAP ports). */
  eap: EapMkaPortStatus | null;
}

/**
 * Secured is a port-level state: it starts with the KaY's `secured`, ends with its `unsecured`
 * or with the end of the session that was secured. Repeated `secured` (each new SAK) is no
 * transition and yields nothing.
 */
export class SecuredState {
  secured = false;

  /** The port event for `ev`, or null when it changes nothing. */
  onKayEvent(ev: DriverEvent): PortEvent | null {
    if (ev.kind === 'secured') {
      if (this.secured) return null;
      this.secured = true;
      return ev;
    }
    if (ev.kind === 'unsecured') return this.end(ev.reason);
    return ev;
  }

  end(reason: string): PortEvent | null {
    if (!this.secured) return null;
    this.secured = false;
    return { kind: 'unsecured', reason };
  }
}

export interface RunningPort {
  readonly spec: PortSpec;
  readonly secy: SecyHandle;
  readonly secured: boolean;
  on(event: 'event', cb: (ev: PortEvent) => void): void;
  status(): PortSnapshot;
  /**
   * Resolves once the new SAK's SecY actions and MKPDUs are out. Only the key server distributes
   * SAKs: for the other members a forced rekey is a no-op, not an error.
   */
  forceRekey(): Promise<{ ok: boolean; error: string }>;
  /**
   * PSK ports: runs another CA beside the running ones (a key chain's next key: KayDriver.addCak
   * without replace, make before break) / removes one (KayDriver.removeCak). False when the port
   * cannot: an EAP port (its CAKs come from EAP) or a KaY that runs one CA only. addCak throws
   * KayConfigError on a malformed CAK/CKN or a CKN already running.
   */
  addCak(c: CakConfig): boolean;
  removeCak(ckn: Uint8Array): boolean;
  /** `graceful`: leave the CA (last MKPDU, delete SAs; a supplicant logs off). Otherwise stop as if crashed. */
  stop(graceful?: boolean): Promise<void>;
  /**
   * Planned restart (PSK ports): announce in-service suspension and stop, leaving the macsec link
   * and its SAs for the next run (PortSpec.adopt). Other ports stop as with stop().
   */
  suspend(seconds: number): Promise<void>;
}

export async function startPort(desired: PortSpec, deps: StartDeps): Promise<RunningPort> {
  const { secy, link, spec, releaseSciPort } = await openPortIo(desired, deps.io, deps.log, deps.sciPorts);
  const events = new EventEmitter();
  const state = new SecuredState();
  const emit = (ev: PortEvent | null) => ev && events.emit('event', ev);
  const kayFactory = deps.kayFactory ?? defaultKayFactory;
  const port = (ops: Pick<RunningPort, 'status' | 'forceRekey' | 'stop'> & Partial<Pick<RunningPort, 'suspend' | 'addCak' | 'removeCak'>>): RunningPort => ({
    addCak: () => false,
    removeCak: () => false,
    ...ops,
    // The SCI port identifier is free again once the port (and its macsec link) is gone.
    stop: (graceful) => ops.stop(graceful).finally(releaseSciPort),
    suspend: (seconds) => (ops.suspend ? ops.suspend(seconds) : ops.stop(true)).finally(releaseSciPort),
    spec,
    secy,
    get secured() {
      return state.secured;
    },
    on: (_, cb) => void events.on('event', cb),
  });
  const auth = spec.auth;

  if (auth.kind === 'psk') {
    let kay: KayLike;
    let driver: KayDriver;
    const mkaEvents: Record<string, number> = {};
    try {
      kay = kayFactory(kayConfig(spec, secy.secy, link.mac, auth.primary, auth.fallback, secy.adopted));
      driver = driveKay(kay, secy.secy, link, deps.log, mkaEvents, (ev) => emit(state.onKayEvent(ev)), deps.clock);
    } catch (e) {
      await Promise.resolve(link.close()).catch(() => undefined);
      await secy.secy.close().catch(() => undefined);
      releaseSciPort();
      throw e;
    }
    return port({
      status: () => ({ kind: auth.kind, secured: state.secured, kay: kay.status(), counters: kay.counters(), mkaEvents: { ...mkaEvents }, eap: null }),
      forceRekey: async () => {
        const events = driver.forceRekey();
        await driver.settled();
        return rekeyResult(events);
      },
      stop: (graceful = true) => driver.stop(graceful), // closes the link and the SecY
      suspend: (seconds) => driver.suspend(seconds), // closes the link, leaves the SecY as it is
      addCak: (c) => driver.addCak(c),
      removeCak: (ckn) => driver.removeCak(ckn),
    });
  }

  let eapPort: EapMkaPort | undefined;
  try {
    const common = {
      name: spec.name,
      link,
      secy: secy.secy,
      mka: kaySettings(spec, secy.secy),
      sciPort: spec.sciPort,
      log: deps.log,
      kayFactory,
      ...(deps.clock ? { clock: deps.clock } : {}),
    };
    eapPort =
      auth.kind === 'eap-authenticator'
        ? new EapMkaPort({ ...common, role: 'authenticator', authenticator: { backend: auth.backend(), pae: auth.pae } })
        : new EapMkaPort({ ...common, role: 'supplicant', supplicant: { method: auth.method, pae: auth.pae } });
    const eap = eapPort;
    let authorized = false;
    eap.on('mka', (ev: DriverEvent) => emit(state.onKayEvent(ev)));
    eap.on('sessionStopped', (reason: string) => emit(state.end(reason)));
    eap.on('change', () => {
      const st = eap.status();
      if (st.authorized && !authorized) emit({ kind: 'authenticated', identity: st.identity ?? '', peer: st.peer ?? '', ckn: st.ckn ?? '' });
      authorized = st.authorized;
      emit({ kind: 'changed' });
    });
    await eap.start();
  } catch (err) {
    if (eapPort)
      await eapPort.stop().catch(() => undefined); // closes the link and the backend
    else await Promise.resolve(link.close()).catch(() => undefined);
    await secy.secy.close().catch(() => undefined);
    releaseSciPort();
    throw err;
  }
  const eap = eapPort;
  return port({
    status: () => {
      const st = eap.status();
      return { kind: auth.kind, secured: state.secured, kay: st.kay, counters: eap.counters(), mkaEvents: st.mkaEvents, eap: st };
    },
    forceRekey: async () => {
      const out = await eap.forceRekey();
      return out ? rekeyResult(out) : { ok: false, error: `port ${spec.name}: no authenticated MKA session` };
    },
    stop: async (graceful = true) => {
      if (graceful && auth.kind === 'eap-supplicant') eap.logoff();
      await eap.stop(); // the KaY leaves and the SecY is swept in any case: no SA outlives the port
      await secy.secy.close();
    },
  });
}

function rekeyResult(events: KayEvent[]): { ok: boolean; error: string } {
  const ignored = events.find((e): e is Extract<KayEvent, { kind: 'dropped' }> => e.kind === 'dropped' && e.reason.startsWith('forceRekey ignored'));
  if (!ignored || ignored.reason.includes('not the key server')) return { ok: true, error: '' };
  return { ok: false, error: ignored.reason };
}
