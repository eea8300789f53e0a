export { type FrameLink, ethernetFrame, formatMac, parseMac, isGroupAddress, ETH_HLEN } from './frame-link.js';
export { EapolLink, EapolLinkError, eapolFilter, type EapolLinkOptions, type EapolLinkStats, type GroupReception } from './eapol-link.js';
export { MemoryHub, type MemoryHubPort } from './memory-hub.js';
