#!/usr/bin/env node
/**
 * macsec-agent (standalone mode: PSK or 802.1X ports from a file):
 *   macsec-agent --config agent.yaml [--status-file status.json]
 * SIGUSR2 forces a rekey on ports where this agent is key server; SIGINT/SIGTERM leave the
 * CAs and delete the macsec links the agent created; SIGUSR1 is a planned restart (upgrade):
 * PSK ports announce in-service suspension and exit leaving their macsec links and SAs, which
 * the next run adopts, so traffic goes on across the restart.
 */
import { parseArgs } from 'node:util';
import { createLogger } from '../../common/log.js';
import { ConfigError, loadConfig } from './config.js';
import { StandaloneAgent } from './agent.js';

/** How long peers keep our SAs after a planned stop (SIGUSR1); our peers honour up to 120 s. */
const SUSPEND_SECONDS = 60;

async function main(): Promise<number> {
  let args;
  try {
    args = parseArgs({ options: { config: { type: 'string', short: 'c' }, 'status-file': { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  } catch (e) {
    process.stderr.write(`macsec-agent: ${(e as Error).message}\n`);
    return 2;
  }
  if (args.values.help || !args.values.config) {
    (args.values.help ? process.stdout : process.stderr).write('usage: macsec-agent --config <agent.yaml> [--status-file <status.json>]\n');
    return args.values.help ? 0 : 2;
  }
  let config;
  try {
    config = loadConfig(args.values.config);
  } catch (e) {
    process.stderr.write(`macsec-agent: ${e instanceof ConfigError ? e.message : (e as Error).message}\n`);
    return 2;
  }
  const log = createLogger({ component: 'macsec-agent' }, { level: config.logLevel });
  const agent = new StandaloneAgent(config, log, args.values['status-file']);
  try {
    await agent.start();
  } catch (e) {
    log.error('agent failed to start', { error: (e as Error).message });
    await agent.stop();
    return 1;
  }
  process.on('SIGUSR2', () => {
    log.info('forced rekey requested (SIGUSR2)');
    agent.forceRekey();
  });
  const how = await new Promise<'stop' | 'suspend'>((resolve) => {
    const done = (sig: string, what: 'stop' | 'suspend') => {
      log.info(what === 'stop' ? 'stopping' : 'suspending for a restart: macsec links and SAs stay', { signal: sig });
      resolve(what);
    };
    process.once('SIGINT', () => done('SIGINT', 'stop'));
    process.once('SIGTERM', () => done('SIGTERM', 'stop'));
    process.once('SIGUSR1', () => done('SIGUSR1', 'suspend'));
  });
  if (how === 'suspend') await agent.suspend(SUSPEND_SECONDS);
  else await agent.stop();
  log.info(how === 'suspend' ? 'suspended' : 'stopped');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`macsec-agent: unexpected error: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
