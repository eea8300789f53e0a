/**
 * A lenient simulated SecY for the control plane: it records the SAs the KaY installs and counts
 * them, so status and metrics have something to show. simulated.ts is the strict model the KaY
 * simulations check against; both pass test/secy/contract.ts.
 */
import type { Secy, SecyAction, SecyMacsecCapability, SecyPnStatus } from '../mka/secy.js';

export class RecordingSecy implements Secy {
  readonly macsecCapability: SecyMacsecCapability;
  readonly txSas = new Map<number, { ki: string; nextPn: bigint; enabled: boolean }>();
  readonly rxSas = new Map<string, { ki: string; enabled: boolean }>();
  readonly rxScs = new Set<string>();
  controlledPortEnabled = false;
  protectFrames = false;
  /** AN of the TX SA in use (the last one enabled), as the kernel's encoding SA. */
  encodingAn: number | null = null;
  cipherSuite = 'GCM-AES-128';
  actions = 0;
  closed = false;

  /** `macsecCapability`: what this SecY claims to implement (default 3, every offset). */
  constructor(opts: { macsecCapability?: SecyMacsecCapability } = {}) {
    this.macsecCapability = opts.macsecCapability ?? 3;
  }

  async apply(a: SecyAction): Promise<void> {
    if (this.closed) throw new Error('SecY closed');
    this.actions++;
    switch (a.kind) {
      case 'createRxSc':
        this.rxScs.add(a.sci);
        break;
      case 'deleteRxSc':
        this.rxScs.delete(a.sci);
        for (const k of [...this.rxSas.keys()]) if (k.startsWith(a.sci + '/')) this.rxSas.delete(k);
        break;
      case 'installRxSa':
        this.rxSas.set(`${a.sci}/${a.an}`, { ki: a.ki, enabled: false });
        break;
      case 'installTxSa':
        this.txSas.set(a.an, { ki: a.ki, nextPn: a.nextPn, enabled: false });
        break;
      case 'enableRxSa': {
        const s = this.rxSas.get(`${a.sci}/${a.an}`);
        if (s) s.enabled = a.enable;
        break;
      }
      case 'enableTxSa': {
        const s = this.txSas.get(a.an);
        if (s) s.enabled = a.enable;
        if (s && a.enable) this.encodingAn = a.an;
        break;
      }
      case 'deleteRxSa':
        this.rxSas.delete(`${a.sci}/${a.an}`);
        break;
      case 'deleteTxSa':
        this.txSas.delete(a.an);
        if (this.encodingAn === a.an) this.encodingAn = null;
        break;
      case 'setProtect':
        this.protectFrames = a.protectFrames;
        break;
      case 'setCipherSuite':
        this.cipherSuite = a.cipherSuite;
        break;
      case 'setControlledPortEnabled':
        this.controlledPortEnabled = a.enabled;
        break;
    }
  }

  async readPn(): Promise<SecyPnStatus> {
    return { txNextPn: new Map([...this.txSas].map(([an, s]) => [an, s.nextPn])) };
  }

  /** SA counters for metrics. */
  stats(): Record<string, number> {
    return {
      secy_tx_sas: this.txSas.size,
      secy_rx_sas: this.rxSas.size,
      secy_rx_scs: this.rxScs.size,
      secy_actions: this.actions,
      secy_controlled_port_enabled: this.controlledPortEnabled ? 1 : 0,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
