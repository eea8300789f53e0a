export { MacsecNetlinkError, errnoName } from './errors.js';
export { KernelSecy, createMacsecPort, attachMacsecPort, kiBytes, type MacsecPortOptions } from './kernel-secy.js';
export { MacsecGenl, parseSecyDump, type SaConfig, type SaUpdate, type SaDump, type RxScDump, type SecyDump } from './macsec-genl.js';
export { Rtnl, sciBytes, sciFromParts, type LinkInfo, type MacsecLinkOptions, type MacsecLinkChange, type ValidateMode, type OffloadMode } from './rtnl.js';
