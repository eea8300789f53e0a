/** The interface between the Authenticator PAE and an EAP server (RADIUS relay or embedded). */

export interface EapKeys {
  /** Master Session Key (64 octets for EAP-TLS). Secret: never log. */
  readonly msk: Uint8Array;
  /** Extended MSK when known (embedded server only; RADIUS does not carry it). Secret. */
  readonly emsk?: Uint8Array;
  /** EAP Session-Id (RFC 5247), e.g. 0x0D | client.random | server.random for EAP-TLS 1.2. */
  readonly sessionId: Uint8Array;
}

export type BackendStep =
  /** Send this EAP-Request to the supplicant and wait for its response. */
  | { readonly kind: 'request'; readonly eap: Uint8Array }
  /** Authentication succeeded: send `eap` (an EAP-Success) and authorize with `keys`. */
  | { readonly kind: 'success'; readonly eap: Uint8Array; readonly keys: EapKeys; readonly identity?: string }
  /** Authentication failed: send `eap` (EAP-Failure) if given, else the PAE builds one. */
  | { readonly kind: 'failure'; readonly eap?: Uint8Array; readonly reason: string }
  /** The response was ignored (duplicate, wrong identifier, malformed): keep waiting. */
  | { readonly kind: 'discard'; readonly reason: string };

export interface EapBackendContext {
  /** MAC address of the supplicant (source of its EAPOL frames). */
  readonly supplicantMac: Uint8Array;
  /** MAC address of the authenticator port. */
  readonly authenticatorMac: Uint8Array;
  /** Free-form port name used in logs and as NAS-Port-Id. */
  readonly portName?: string;
}

export interface EapBackendSession {
  /**
   * Processes one EAP-Response from the supplicant (the first is the Response/Identity to the
   * PAE's Request/Identity). Never rejects: errors come back as a `failure` step.
   */
  handle(eapResponse: Uint8Array): Promise<BackendStep>;
  /** Releases the session (TLS state, pending RADIUS requests). Idempotent. */
  close(): void;
}

export interface EapBackend {
  readonly name: string;
  createSession(ctx: EapBackendContext): EapBackendSession;
  /** Releases shared resources (sockets). */
  close?(): Promise<void>;
}
