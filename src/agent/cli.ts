#!/usr/bin/env node
/**
 * macsec-agent: one command, two modes.
 *   macsec-agent --config agent.yaml [--status-file s.json]   standalone: ports from a file (PSK or 802.1X)
 *   macsec-agent --manager host:port --ca --cert --key ...    managed: ports from the manager (docs/control-plane.md)
 */
const standalone = process.argv.slice(2).some((a) => a === '--config' || a === '-c' || a.startsWith('--config='));
await import(standalone ? './standalone/main.js' : './managed/main.js');
