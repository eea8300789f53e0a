/** EAP-TLS key derivation from a finished TLS session (RFC 5216 2.3, RFC 9190 2.3). */
import type { TLSSocket } from 'node:tls';
import { EapType } from './eap.js';

export interface EapTlsKeyMaterial {
  readonly msk: Uint8Array;
  readonly emsk: Uint8Array;
  readonly sessionId: Uint8Array;
  readonly tlsVersion: string;
}

const TYPE_CODE = Uint8Array.of(EapType.Tls);

/**
 * TLS 1.2: MSK|EMSK = TLS-PRF(master, "client EAP encryption", client.random|server.random)[0..127],
 *          Session-Id = 0x0D | client.random | server.random.
 * TLS 1.3: Key_Material = TLS-Exporter("EXPORTER_EAP_TLS_Key_Material", 0x0D, 128),
 *          Session-Id = 0x0D | TLS-Exporter("EXPORTER_EAP_TLS_Method-Id", 0x0D, 64)
 *          (the Type-Code context is what RFC 9190 and hostapd/wpa_supplicant 2.10 use).
 */
export function deriveEapTlsKeys(sock: TLSSocket, clientRandom: Uint8Array | undefined, serverRandom: Uint8Array | undefined): EapTlsKeyMaterial {
  const version = sock.getProtocol() ?? 'unknown';
  let km: Buffer;
  let sessionId: Uint8Array;
  if (version === 'TLSv1.3') {
    km = sock.exportKeyingMaterial(128, 'EXPORTER_EAP_TLS_Key_Material', Buffer.from(TYPE_CODE));
    const methodId = sock.exportKeyingMaterial(64, 'EXPORTER_EAP_TLS_Method-Id', Buffer.from(TYPE_CODE));
    sessionId = new Uint8Array(65);
    sessionId[0] = EapType.Tls;
    sessionId.set(methodId, 1);
  } else {
    if (!clientRandom || !serverRandom) throw new Error('TLS hello randoms were not observed');
    // No context at all (RFC 5705 distinguishes "no context" from an empty one).
    km = sock.exportKeyingMaterial(128, 'client EAP encryption', undefined as unknown as Buffer);
    sessionId = new Uint8Array(65);
    sessionId[0] = EapType.Tls;
    sessionId.set(clientRandom, 1);
    sessionId.set(serverRandom, 33);
  }
  const msk = Uint8Array.from(km.subarray(0, 64));
  const emsk = Uint8Array.from(km.subarray(64, 128));
  km.fill(0);
  return { msk, emsk, sessionId, tlsVersion: version };
}
