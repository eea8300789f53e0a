/** 802.1X driving MKA on a port: EapMkaPort, EAPOL demux, per-session SecY, agent glue and config. */
export * from './eapol-demux.js';
export * from './session-secy.js';
export * from './eap-mka-port.js';
export * from './config.js';
export * from './agent-port.js';
