/**
 * What the KaY asks of a SecY (IEEE 802.1AE clause 10 / 802.1X-2010 clause 9.16 interface).
 * The KaY never calls a SecY directly: it returns SecyAction values and the driver applies
 * them to an implementation of Secy (simulated in tests, the Linux kernel in production).
 */
import type { CipherSuiteName } from './constants.js';

/** SCI as a 16-hex-digit string (MAC then port), the key for channels in maps and logs. */
export type SciHex = string;

export type SecyAction =
  | { kind: 'createRxSc'; sci: SciHex }
  | { kind: 'deleteRxSc'; sci: SciHex }
  | {
      kind: 'installRxSa';
      sci: SciHex;
      an: number;
      /** Lowest PN to accept. */
      lowestPn: bigint;
      /** Key identifier of the SAK, hex of MI||KN, for logs and matching (not secret). */
      ki: string;
      sak: Uint8Array;
      /** XPN: the transmitter's SSCI and the 12-octet salt. */
      ssci?: number;
      salt?: Uint8Array;
    }
  | {
      kind: 'installTxSa';
      an: number;
      nextPn: bigint;
      ki: string;
      sak: Uint8Array;
      ssci?: number;
      salt?: Uint8Array;
    }
  | { kind: 'enableRxSa'; sci: SciHex; an: number; enable: boolean }
  | { kind: 'enableTxSa'; an: number; enable: boolean }
  | { kind: 'deleteRxSa'; sci: SciHex; an: number }
  | { kind: 'deleteTxSa'; an: number }
  /** Controlled port: whether the SecY transmits / validates protected frames. */
  | { kind: 'setProtect'; protectFrames: boolean; validate: 'disabled' | 'check' | 'strict' }
  | { kind: 'setCipherSuite'; cipherSuite: CipherSuiteName; confidentialityOffset: number | null }
  | { kind: 'setControlledPortEnabled'; enabled: boolean };

/** Counters and PNs the KaY needs to read back (for LPN reporting and PN exhaustion). */
export interface SecyPnStatus {
  /** Next PN of each installed TX SA, by AN. */
  txNextPn: Map<number, bigint>;
  /** Lowest acceptable PN reported by each RX SA, keyed `${sci}/${an}`. */
  rxLowestPn?: Map<string, bigint>;
}

/**
 * MACsec capability of a SecY (802.1X-2020 Table 11-6, as in the Basic Parameter Set): 1
 * integrity only, 2 integrity and confidentiality with offset 0, 3 also offsets 30 and 50.
 */
export type SecyMacsecCapability = 1 | 2 | 3;

/** The Linux macsec driver (KernelSecy) encrypts everything after the SecTAG or nothing: capability 2. */
export const LINUX_MACSEC_CAPABILITY: SecyMacsecCapability = 2;

/**
 * Why a port cannot use this confidentiality offset (octets; null: integrity only) on the Linux
 * SecY, or undefined when it can. The one check behind every configuration path: the
 * standalone agent's file, the manager's port requests and the managed agent's DesiredPort.
 * `noneName`: how integrity only is spelled where the value came from.
 */
export function unsupportedConfidentialityOffset(offset: number | null, noneName = 'none'): string | undefined {
  if (offset === 0 || offset === null) return undefined;
  return `${offset} is not supported by the Linux MACsec driver (offset 0 or ${noneName} only)`;
}

/** A SecY the driver applies actions to. Implementations: SimulatedSecy, KernelSecy. */
export interface Secy {
  /** What this SecY implements; the port code passes it to the KaY (KayConfig.macsecCapability). Absent: unknown. */
  readonly macsecCapability?: SecyMacsecCapability;
  apply(action: SecyAction): Promise<void>;
  readPn(): Promise<SecyPnStatus>;
  close(): Promise<void>;
  /** Lets go of the SecY leaving its state in place (in-service suspension); absent: close(). */
  detach?(): Promise<void>;
}
