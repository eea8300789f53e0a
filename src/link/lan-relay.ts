#!/usr/bin/env node
/**
 * macsec-lan-relay: the simulated LAN for agents running as separate processes (loopback UDP).
 *   macsec-lan-relay [--port 40000]      then start agents with --sim-lan-relay 127.0.0.1:40000
 */
import { parseArgs } from 'node:util';
import { UdpRelay } from './udp.js';

const { values } = parseArgs({ options: { port: { type: 'string', default: '40000' } } });
const relay = new UdpRelay();
const port = await relay.start(Number(values.port));
setInterval(() => relay.prune(), 30_000).unref();
process.stdout.write(JSON.stringify({ ready: true, port }) + '\n');
process.on('SIGTERM', () => {
  relay.close();
  process.exit(0);
});
process.on('SIGINT', () => {
  relay.close();
  process.exit(0);
});
