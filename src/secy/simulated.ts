/**
 * A simulated SecY: applies SecyActions to an in-memory model of the controlled port, the TX SC
 * with its SAs and the RX SCs with theirs, recording anything the KaY asked that a real SecY
 * would refuse (an SA on a missing SC, a duplicate SC, deleting what does not exist...).
 */
import type { CipherSuiteName } from '../mka/constants.js';
import type { AdoptedSecy } from '../mka/adopted.js';
import type { Secy, SecyAction, SecyMacsecCapability, SecyPnStatus, SciHex } from '../mka/secy.js';

export interface SimRxSa {
  an: number;
  ki: string;
  sak: Uint8Array;
  lowestPn: bigint;
  enabled: boolean;
  ssci?: number;
  salt?: Uint8Array;
}

export interface SimTxSa {
  an: number;
  ki: string;
  sak: Uint8Array;
  nextPn: bigint;
  enabled: boolean;
  ssci?: number;
  salt?: Uint8Array;
}

export class SimulatedSecy implements Secy {
  readonly macsecCapability: SecyMacsecCapability;
  cipherSuite: CipherSuiteName | null = null;
  confidentialityOffset: number | null = null;
  protectFrames = false;
  validate: 'disabled' | 'check' | 'strict' = 'disabled';
  controlledPortEnabled = false;
  readonly rxScs = new Map<SciHex, Map<number, SimRxSa>>();
  readonly txSas = new Map<number, SimTxSa>();
  /** AN of the TX SA in use (the last one enabled). */
  encodingAn: number | null = null;
  readonly errors: string[] = [];
  /** Every action applied, in order, with key material replaced by its length. */
  readonly log: string[] = [];
  closed = false;

  /** `macsecCapability`: what this SecY claims to implement (default 3, every offset). */
  constructor(opts: { macsecCapability?: SecyMacsecCapability } = {}) {
    this.macsecCapability = opts.macsecCapability ?? 3;
  }

  /** What a restarted KaY finds on this SecY (KayConfig.adopted), as the kernel dump gives it. */
  adoptedState(): AdoptedSecy {
    return {
      txAns: [...this.txSas.keys()],
      rxScs: [...this.rxScs].map(([sci, sas]) => ({ sci, ans: [...sas.keys()] })),
      controlledPortEnabled: this.controlledPortEnabled,
    };
  }

  applySync(a: SecyAction): void {
    this.log.push(describe(a));
    switch (a.kind) {
      case 'createRxSc':
        if (this.rxScs.has(a.sci)) this.errors.push(`createRxSc ${a.sci}: exists`);
        else this.rxScs.set(a.sci, new Map());
        break;
      case 'deleteRxSc':
        if (!this.rxScs.delete(a.sci)) this.errors.push(`deleteRxSc ${a.sci}: no such SC`);
        break;
      case 'installRxSa': {
        const sc = this.rxScs.get(a.sci);
        if (!sc) {
          this.errors.push(`installRxSa ${a.sci}/${a.an}: no such SC`);
          break;
        }
        // Two keys on one AN of an SC (e.g. two CAs' keys) would silently replace one another.
        const had = sc.get(a.an);
        if (had && had.ki !== a.ki) this.errors.push(`installRxSa ${a.sci}/${a.an}: replaces the SA of another key`);
        const sa: SimRxSa = { an: a.an, ki: a.ki, sak: Uint8Array.from(a.sak), lowestPn: a.lowestPn, enabled: false };
        if (a.ssci !== undefined) sa.ssci = a.ssci;
        if (a.salt) sa.salt = Uint8Array.from(a.salt);
        sc.set(a.an, sa);
        break;
      }
      case 'enableRxSa': {
        const sa = this.rxScs.get(a.sci)?.get(a.an);
        if (!sa) this.errors.push(`enableRxSa ${a.sci}/${a.an}: no such SA`);
        else sa.enabled = a.enable;
        break;
      }
      case 'deleteRxSa':
        if (!this.rxScs.get(a.sci)?.delete(a.an)) this.errors.push(`deleteRxSa ${a.sci}/${a.an}: no such SA`);
        break;
      case 'installTxSa': {
        if (this.encodingAn === a.an && this.txSas.get(a.an)?.enabled) this.errors.push(`installTxSa ${a.an}: replaces the SA in use`);
        else if (this.txSas.has(a.an) && this.txSas.get(a.an)!.ki !== a.ki) this.errors.push(`installTxSa ${a.an}: replaces the SA of another key`);
        const sa: SimTxSa = { an: a.an, ki: a.ki, sak: Uint8Array.from(a.sak), nextPn: a.nextPn, enabled: false };
        if (a.ssci !== undefined) sa.ssci = a.ssci;
        if (a.salt) sa.salt = Uint8Array.from(a.salt);
        this.txSas.set(a.an, sa);
        break;
      }
      case 'enableTxSa': {
        const sa = this.txSas.get(a.an);
        if (!sa) {
          this.errors.push(`enableTxSa ${a.an}: no such SA`);
          break;
        }
        sa.enabled = a.enable;
        if (a.enable) this.encodingAn = a.an;
        else if (this.encodingAn === a.an) this.encodingAn = null;
        break;
      }
      case 'deleteTxSa':
        if (!this.txSas.delete(a.an)) this.errors.push(`deleteTxSa ${a.an}: no such SA`);
        if (this.encodingAn === a.an) this.encodingAn = null;
        break;
      case 'setProtect':
        this.protectFrames = a.protectFrames;
        this.validate = a.validate;
        break;
      case 'setCipherSuite':
        this.cipherSuite = a.cipherSuite;
        this.confidentialityOffset = a.confidentialityOffset;
        break;
      case 'setControlledPortEnabled':
        this.controlledPortEnabled = a.enabled;
        break;
      default:
        this.errors.push(`unknown action ${(a as { kind: string }).kind}`);
    }
  }

  /** Like a real SecY, a closed one refuses (applySync, for lock-step simulations, does not check). */
  async apply(action: SecyAction): Promise<void> {
    if (this.closed) throw new Error('SecY closed');
    this.applySync(action);
  }

  readPnSync(): SecyPnStatus {
    const txNextPn = new Map<number, bigint>();
    for (const [an, sa] of this.txSas) txNextPn.set(an, sa.nextPn);
    const rxLowestPn = new Map<string, bigint>();
    for (const [sci, sc] of this.rxScs) for (const [an, sa] of sc) rxLowestPn.set(`${sci}/${an}`, sa.lowestPn);
    return { txNextPn, rxLowestPn };
  }

  async readPn(): Promise<SecyPnStatus> {
    return this.readPnSync();
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** The TX SA protected frames go out with, when the controlled port passes protected traffic. */
  transmitting(): SimTxSa | null {
    if (!this.controlledPortEnabled || !this.protectFrames || this.encodingAn === null) return null;
    const sa = this.txSas.get(this.encodingAn);
    return sa?.enabled ? sa : null;
  }

  /** Whether a frame protected with (an, ki) from `sci` would be accepted. */
  canReceive(sci: SciHex, an: number, ki: string): boolean {
    const sa = this.rxScs.get(sci)?.get(an);
    return !!sa && sa.enabled && sa.ki === ki;
  }

  /** Simulates `n` protected frames sent: advances the next PN of the SA in use. */
  sendTraffic(n: bigint): void {
    const sa = this.transmitting();
    if (sa) sa.nextPn += n;
  }

  setNextPn(an: number, pn: bigint): void {
    const sa = this.txSas.get(an);
    if (sa) sa.nextPn = pn;
  }
}

function describe(a: SecyAction): string {
  const parts: string[] = [a.kind];
  for (const [k, v] of Object.entries(a)) {
    if (k === 'kind') continue;
    if (k === 'sak' || k === 'salt') parts.push(`${k}=<${(v as Uint8Array).length}>`);
    else parts.push(`${k}=${String(v)}`);
  }
  return parts.join(' ');
}
