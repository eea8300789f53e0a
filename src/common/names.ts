/**
 * The naming rules, defined once: the manager, both agents, the CLI and the OSM adapter accept
 * exactly the same names, so a name one of them takes is never refused by the next hop.
 * Each rule has a regular expression and a short text for error messages.
 */

/**
 * Identities (agent ids, VNF ids, certificate names) and channel names: a letter or digit, then
 * up to 62 of letters, digits, '.', '_', '-'. They appear in certificate URIs, file names and
 * metric labels, so no leading '.' or '-'.
 */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;
export const NAME_RULE = '[A-Za-z0-9][A-Za-z0-9._-]{0,62}';

/**
 * Linux interface (and OVS bridge) names: 1 to 15 characters (IFNAMSIZ - 1); the kernel refuses
 * '/', ':' and whitespace and the names '.' and '..'. We also refuse a leading '.', '-' or '@',
 * which tools read as options or hidden entries.
 */
export const IFNAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,14}$/;
export const IFNAME_RULE = '1-15 characters [A-Za-z0-9_.@-], not starting with . - or @';

/** Idempotency keys of create requests (an orchestrator's own ids: ':' allowed). */
export const REQUEST_ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;
export const REQUEST_ID_RULE = '1-128 characters [A-Za-z0-9._:-]';

export const isName = (s: string): boolean => NAME_RE.test(s);
export const isIfname = (s: string): boolean => IFNAME_RE.test(s);
export const isRequestId = (s: string): boolean => REQUEST_ID_RE.test(s);
