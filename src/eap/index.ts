/** 802.1X / EAP: codecs, PAE state machines, EAP backends (RADIUS relay, embedded EAP-TLS), EAP-TLS peer, CAK/CKN. */
export * from './decode.js';
export * from './eapol.js';
export * from './eap.js';
export * from './keys.js';
export * from './backend.js';
export * from './identity-policy.js';
export * from './tls-frag.js';
export * from './tls-keys.js';
export * from './eaptls-server.js';
export * from './eaptls-peer.js';
export * from './radius.js';
export * from './radius-client.js';
export * from './radius-backend.js';
export * from './authenticator-pae.js';
export * from './supplicant-pae.js';
export * from './port.js';
export * from './select-backend.js';
