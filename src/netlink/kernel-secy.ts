/**
 * KernelSecy: the Secy the MKA KaY drives, backed by a Linux macsec link
 * (rtnetlink for the link, generic netlink "macsec" for SCs and SAs).
 *
 * Semantics chosen to match wpa_supplicant's macsec_linux driver:
 * - installRxSa installs the SA already receiving (active) — the KaY enables
 *   receive SAs as soon as it installs them; enableRxSa toggles it.
 * - installTxSa installs the SA inactive; enableTxSa(true) activates it and
 *   makes it the encoding SA (IFLA_MACSEC_ENCODING_SA).
 * - setControlledPortEnabled sets the macsec link administratively up/down.
 * - setCipherSuite: the kernel fixes the cipher suite at link creation. An
 *   equal suite only updates the confidentiality setting; a different one
 *   re-creates the link (same name, SCI and settings, and its RX SCs) if we own
 *   it and it has no SAs yet, otherwise it fails with EOPNOTSUPP.
 * - Linux only supports confidentiality offset 0; null means integrity only.
 * Key material is never logged; the message copies are zeroed after sending.
 */
import type { AdoptedSecy } from '../mka/adopted.js';
import { CIPHER_SUITES, type CipherSuiteName } from '../mka/constants.js';
import { LINUX_MACSEC_CAPABILITY, type SciHex, type Secy, type SecyAction, type SecyMacsecCapability, type SecyPnStatus } from '../mka/secy.js';
import { MacsecNetlinkError } from './errors.js';
import { MacsecGenl, sciLabel, type SecyDump } from './macsec-genl.js';
import { IFF_UP } from './uapi.js';
import { Rtnl, sciFromParts, type LinkInfo, type MacsecLinkOptions } from './rtnl.js';

export interface MacsecPortOptions extends MacsecLinkOptions {
  /** Bring the macsec link up after creating it (default false: the KaY enables the controlled port). */
  up?: boolean;
  /** installRxSa installs receiving SAs active (default true). */
  rxSaActiveOnInstall?: boolean;
}

/** Create a macsec link on `parent` and return a KernelSecy that owns it (close() deletes it). */
export async function createMacsecPort(parent: string, opts: MacsecPortOptions = {}): Promise<KernelSecy> {
  const rtnl = Rtnl.open();
  let genl: MacsecGenl | undefined;
  try {
    genl = await MacsecGenl.open();
    const parentLink = await rtnl.getLink(parent);
    const link = await rtnl.createMacsec(parentLink.index, opts);
    const secy = new KernelSecy(rtnl, genl, link, parentLink, opts, true);
    if (opts.up) {
      try {
        await rtnl.setUp(link.index, true);
      } catch (err) {
        await secy.close().catch(() => undefined); // deletes the link and closes the sockets
        throw err;
      }
    }
    return secy;
  } catch (err) {
    genl?.close();
    rtnl.close();
    throw err;
  }
}

/**
 * Takes over the macsec link an earlier run of this port left (agent restart): owned again
 * (close() deletes it), with its SAs recorded, and what they are as KayConfig.adopted.
 */
export async function adoptMacsecPort(ifname: string): Promise<{ secy: KernelSecy; adopted: AdoptedSecy }> {
  const secy = await attachMacsecPort(ifname, { deleteOnClose: true });
  try {
    return { secy, adopted: await secy.takeInventory() };
  } catch (err) {
    await secy.detach();
    throw err;
  }
}

/** Use an existing macsec link (not owned: close() leaves it in place unless `deleteOnClose`). */
export async function attachMacsecPort(ifname: string, opts: { deleteOnClose?: boolean; rxSaActiveOnInstall?: boolean } = {}): Promise<KernelSecy> {
  const rtnl = Rtnl.open();
  let genl: MacsecGenl | undefined;
  try {
    genl = await MacsecGenl.open();
    const link = await rtnl.getLink(ifname);
    if (link.kind !== 'macsec') throw new MacsecNetlinkError(`attach ${ifname}`, 0, 'EINVAL', `not a macsec link (kind ${link.kind ?? 'none'})`);
    const parentLink = link.parentIndex ? await rtnl.getLinkByIndex(link.parentIndex) : link;
    const [d] = await genl.dump(link.index);
    const linkOpts: MacsecPortOptions = { name: ifname };
    if (d) {
      linkOpts.sci = d.sci;
      if (d.cipherSuite !== 'unknown') linkOpts.cipherSuite = d.cipherSuite;
      Object.assign(linkOpts, {
        icvLen: d.icvLen,
        encrypt: d.encrypt,
        protect: d.protect,
        validate: d.validate,
        replayProtect: d.replayProtect,
        replayWindow: d.replayWindow,
        includeSci: d.includeSci,
        es: d.es,
        scb: d.scb,
      });
    }
    if (opts.rxSaActiveOnInstall !== undefined) linkOpts.rxSaActiveOnInstall = opts.rxSaActiveOnInstall;
    return new KernelSecy(rtnl, genl, link, parentLink, linkOpts, opts.deleteOnClose ?? false);
  } catch (err) {
    genl?.close();
    rtnl.close();
    throw err;
  }
}

export class KernelSecy implements Secy {
  /** Linux macsec encrypts everything after the SecTAG or nothing: no offsets 30/50. */
  readonly macsecCapability: SecyMacsecCapability = LINUX_MACSEC_CAPABILITY;
  private link: LinkInfo;
  private opts: MacsecPortOptions;
  private closed = false;
  private queue: Promise<void> = Promise.resolve();
  /** ANs of installed TX SAs and `${sci}/${an}` of RX SAs, to know whether the link is still empty. */
  private readonly txAns = new Set<number>();
  private readonly rxSas = new Set<string>();
  private readonly rxScs = new Set<SciHex>();

  /** @internal use createMacsecPort / attachMacsecPort */
  constructor(
    private readonly rtnl: Rtnl,
    private readonly genl: MacsecGenl,
    link: LinkInfo,
    private readonly parent: LinkInfo,
    opts: MacsecPortOptions,
    private readonly owned: boolean,
  ) {
    this.link = link;
    this.opts = { ...opts, name: link.name };
  }

  get ifname(): string {
    return this.link.name;
  }
  get ifindex(): number {
    return this.link.index;
  }
  get parentName(): string {
    return this.parent.name;
  }
  /** Our SCI (transmit SC), 16 hex digits. */
  get sci(): SciHex {
    return (this.opts.sci ?? sciFromParts(this.parent.mac, this.opts.port ?? 1)).toLowerCase();
  }
  get cipherSuite(): CipherSuiteName {
    return this.opts.cipherSuite ?? 'GCM-AES-128';
  }
  private get xpn(): boolean {
    return CIPHER_SUITES[this.cipherSuite].xpn;
  }

  /**
   * Apply one action. Calls are serialized (each waits for the previous one),
   * so a driver may fire actions without awaiting and keep the KaY's order.
   */
  apply(action: SecyAction): Promise<void> {
    const run = this.queue.then(() => this.applyNow(action));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async applyNow(action: SecyAction): Promise<void> {
    this.assertOpen();
    const idx = this.link.index;
    switch (action.kind) {
      case 'createRxSc':
        await this.genl.addRxSc(idx, action.sci, true);
        this.rxScs.add(action.sci.toLowerCase());
        return;
      case 'deleteRxSc':
        await this.genl.delRxSc(idx, action.sci);
        this.rxScs.delete(action.sci.toLowerCase());
        for (const k of [...this.rxSas]) if (k.startsWith(`${action.sci.toLowerCase()}/`)) this.rxSas.delete(k);
        return;
      case 'installRxSa': {
        const sa = {
          an: action.an,
          pn: atLeastOne(action.lowestPn),
          xpn: this.xpn,
          key: action.sak,
          keyId: kiBytes(action.ki),
          active: this.opts.rxSaActiveOnInstall ?? true,
        };
        await this.genl.addRxSa(idx, action.sci, withXpn(sa, action.ssci, action.salt));
        this.rxSas.add(`${action.sci.toLowerCase()}/${action.an}`);
        return;
      }
      case 'installTxSa': {
        const sa = { an: action.an, pn: atLeastOne(action.nextPn), xpn: this.xpn, key: action.sak, keyId: kiBytes(action.ki), active: false };
        await this.genl.addTxSa(idx, withXpn(sa, action.ssci, action.salt));
        this.txAns.add(action.an);
        return;
      }
      case 'enableRxSa':
        await this.genl.updRxSa(idx, action.sci, { an: action.an, xpn: this.xpn, active: action.enable });
        return;
      case 'enableTxSa':
        await this.genl.updTxSa(idx, { an: action.an, xpn: this.xpn, active: action.enable });
        if (action.enable) {
          await this.rtnl.changeMacsec(idx, { encodingSa: action.an }, `set encoding SA ${action.an}`);
          this.opts.encodingSa = action.an;
        }
        return;
      case 'deleteRxSa':
        // The kernel refuses to delete an active SA (EBUSY): deactivate first.
        await asOperation(`delete RX SA (${sciLabel(action.sci)}, an ${action.an})`, () =>
          this.genl.updRxSa(idx, action.sci, { an: action.an, xpn: this.xpn, active: false }),
        );
        await this.genl.delRxSa(idx, action.sci, action.an);
        this.rxSas.delete(`${action.sci.toLowerCase()}/${action.an}`);
        return;
      case 'deleteTxSa':
        await asOperation(`delete TX SA (an ${action.an})`, () => this.genl.updTxSa(idx, { an: action.an, xpn: this.xpn, active: false }));
        await this.genl.delTxSa(idx, action.an);
        this.txAns.delete(action.an);
        return;
      case 'setProtect':
        await this.rtnl.changeMacsec(idx, { protect: action.protectFrames, validate: action.validate }, 'set protect/validate');
        this.opts.protect = action.protectFrames;
        this.opts.validate = action.validate;
        return;
      case 'setCipherSuite':
        await this.setCipherSuite(action.cipherSuite, action.confidentialityOffset);
        return;
      case 'setControlledPortEnabled':
        await this.rtnl.setUp(idx, action.enabled);
        return;
      default: {
        const never: never = action;
        throw new Error(`unknown SecY action ${JSON.stringify(never)}`);
      }
    }
  }

  private async setCipherSuite(cs: CipherSuiteName, offset: number | null): Promise<void> {
    if (offset !== null && offset !== 0) {
      throw new MacsecNetlinkError(`set cipher suite ${cs}`, 0, 'EOPNOTSUPP', `Linux macsec supports confidentiality offset 0 only, not ${offset}`);
    }
    const encrypt = offset !== null;
    if (cs !== this.cipherSuite) {
      if (!this.owned || this.txAns.size || this.rxSas.size) {
        throw new MacsecNetlinkError(
          `set cipher suite ${cs}`,
          0,
          'EOPNOTSUPP',
          `the kernel fixes the cipher suite at link creation (${this.ifname} has ${this.cipherSuite}${this.owned ? ' and SAs installed' : ', link not owned'})`,
        );
      }
      await this.recreate({ ...this.opts, cipherSuite: cs, encrypt });
      return;
    }
    if (this.opts.encrypt !== encrypt) {
      await this.rtnl.changeMacsec(this.link.index, { encrypt }, `set encrypt ${encrypt ? 'on' : 'off'}`);
      this.opts.encrypt = encrypt;
    }
  }

  /** Delete and re-create the (empty, owned) link with new creation-time settings. */
  private async recreate(opts: MacsecPortOptions): Promise<void> {
    const current = await this.rtnl.getLinkByIndex(this.link.index);
    const wasUp = (current.flags & IFF_UP) !== 0;
    const sci = this.sci;
    await this.rtnl.deleteLink(this.link.index, this.link.name);
    this.link = await this.rtnl.createMacsec(this.parent.index, { ...opts, name: this.link.name, sci });
    this.opts = { ...opts, name: this.link.name, sci };
    // RX SCs without SAs (a peer is live, its SAK not yet installed) move to the new link.
    for (const sci of this.rxScs) await this.genl.addRxSc(this.link.index, sci, true);
    if (wasUp) await this.rtnl.setUp(this.link.index, true);
  }

  /**
   * Dumps go through the same queue as apply(): one generic-netlink socket cannot carry a
   * multipart dump and another request at once (EBUSY / unterminated multipart otherwise).
   */
  dump(): Promise<SecyDump> {
    this.assertOpen();
    const run = this.queue.then(async () => {
      const [d] = await this.genl.dump(this.link.index);
      if (!d) throw new MacsecNetlinkError(`dump SecY ${this.ifname}`, 19, 'ENODEV');
      return d;
    });
    this.queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async readPn(): Promise<SecyPnStatus> {
    const d = await this.dump();
    const txNextPn = new Map<number, bigint>();
    for (const sa of d.txSas) txNextPn.set(sa.an, sa.nextPn);
    const rxLowestPn = new Map<string, bigint>();
    for (const sc of d.rxScs) for (const sa of sc.sas) rxLowestPn.set(`${sc.sci}/${sa.an}`, sa.nextPn);
    return { txNextPn, rxLowestPn };
  }

  /** Records the SAs and RX SCs the link holds (an adopted link) and returns them. */
  async takeInventory(): Promise<AdoptedSecy> {
    const d = await this.dump();
    const link = await this.rtnl.getLinkByIndex(this.link.index);
    for (const sa of d.txSas) this.txAns.add(sa.an);
    for (const sc of d.rxScs) {
      const sci = sc.sci.toLowerCase();
      this.rxScs.add(sci);
      for (const sa of sc.sas) this.rxSas.add(`${sci}/${sa.an}`);
    }
    this.opts.encodingSa = d.encodingSa;
    return {
      txAns: d.txSas.map((sa) => sa.an),
      rxScs: d.rxScs.map((sc) => ({ sci: sc.sci.toLowerCase(), ans: sc.sas.map((sa) => sa.an) })),
      controlledPortEnabled: (link.flags & IFF_UP) !== 0,
    };
  }

  /**
   * Closes the sockets and leaves the link with its SAs in place (in-service suspension: the
   * next run adopts it). Idempotent.
   */
  async detach(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.genl.close();
    this.rtnl.close();
  }

  /** Delete the link if we own it, and close the sockets. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.owned) {
        try {
          await this.rtnl.deleteLink(this.link.index, this.link.name);
        } catch (err) {
          if (!(err instanceof MacsecNetlinkError && err.errnoName === 'ENODEV')) throw err;
        }
      }
    } finally {
      this.genl.close();
      this.rtnl.close();
    }
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`KernelSecy ${this.link.name} is closed`);
  }
}

/** The 16-octet key identifier MI||KN from its hex form. */
export function kiBytes(ki: string): Uint8Array {
  const b = Buffer.from(ki, 'hex');
  if (b.length !== 16 || ki.length !== 32) throw new TypeError(`key identifier must be 32 hex digits (MI||KN), got ${ki.length}`);
  return b;
}

function withXpn<T extends object>(sa: T, ssci: number | undefined, salt: Uint8Array | undefined): T & { ssci?: number; salt?: Uint8Array } {
  const out: T & { ssci?: number; salt?: Uint8Array } = { ...sa };
  if (ssci !== undefined) out.ssci = ssci;
  if (salt !== undefined) out.salt = salt;
  return out;
}

/** Run a sub-step, reporting its failure under the caller's operation name. */
async function asOperation(operation: string, step: () => Promise<void>): Promise<void> {
  try {
    await step();
  } catch (err) {
    if (err instanceof MacsecNetlinkError) throw new MacsecNetlinkError(operation, err.errno, err.errnoName);
    throw err;
  }
}

/** PN 0 never appears on the wire and the kernel rejects it (EINVAL); MKA may report it for a fresh SA. */
function atLeastOne(pn: bigint): bigint {
  return pn < 1n ? 1n : pn;
}
