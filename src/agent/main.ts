#!/usr/bin/env node
/**
 * macsec-agent: runs on a switch/network node, dials the manager.
 *   macsec-agent --manager 127.0.0.1:50051 --ca pki/ca.crt --cert pki/agent-a1.crt --key pki/agent-a1.key \
 *                --interfaces eth1,eth2 [--sim-lan-relay 127.0.0.1:40000] [--ovsdb /var/run/openvswitch/db.sock]
 *                [--listen 127.0.0.1:0] [--metrics 127.0.0.1:9465] [--hello-ms 2000] [--life-ms 6000]
 * The agent id is taken from the certificate (URI SAN urn:macsec:agent:<id>). Until the pcap/kernel
 * I/O lands, ports use the simulated LAN (--sim-lan-relay, a UDP relay on loopback) and a recording SecY.
 */
import { parseArgs } from 'node:util';
import { createHash } from 'node:crypto';
import { createLogger } from '../control/log.js';
import { certPrincipal, clientCredentials, loadTls, serverCredentials } from '../control/tls.js';
import { serveMetrics } from '../control/metrics.js';
import { Agent } from './agent.js';
import { udpLinkFactory } from './framelink.js';
import { RecordingSecy } from './secy-sim.js';
import { loadKayFactory } from './kay-factory.js';
import { OvsdbClient } from './ovs.js';
import { renderAgentMetrics, startAgentServer } from './server.js';
import { simMac } from './sim.js';

export async function main(argv = process.argv.slice(2)): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      manager: { type: 'string', default: '127.0.0.1:50051' },
      ca: { type: 'string' },
      cert: { type: 'string' },
      key: { type: 'string' },
      interfaces: { type: 'string', default: 'eth1' },
      'sim-lan-relay': { type: 'string' },
      'lan-prefix': { type: 'string', default: 'lan' },
      ovsdb: { type: 'string' },
      listen: { type: 'string' },
      metrics: { type: 'string' },
      'hello-ms': { type: 'string' },
      'life-ms': { type: 'string' },
    },
  });
  for (const k of ['ca', 'cert', 'key'] as const) if (!values[k]) throw new Error(`--${k} is required`);
  const tls = loadTls({ ca: values.ca!, cert: values.cert!, key: values.key! });
  const me = certPrincipal(tls.cert);
  if (!me || me.kind !== 'agent') throw new Error('--cert is not an agent certificate (needs URI SAN urn:macsec:agent:<id>)');
  const log = createLogger({ component: 'agent', agent: me.id });
  if (!values['sim-lan-relay']) throw new Error('--sim-lan-relay is required until the pcap FrameLink is available');
  const relayPort = Number(values['sim-lan-relay'].split(':').pop());
  const kayFactory = await loadKayFactory();
  if (!kayFactory) log.warn('no KaY implementation found; PSK ports cannot run MKA');
  const names = values.interfaces!.split(',').filter(Boolean);
  const agent = new Agent({
    id: me.id,
    managerAddress: values.manager!,
    credentials: clientCredentials(tls, 'manager'),
    interfaces: names.map((n) => ({ name: n, mac: Buffer.from(simMac(me.id, n)).toString('hex').replace(/(..)(?!$)/g, '$1:') })),
    log,
    kayFactory,
    secyFactory: (iface) => {
      const s = new RecordingSecy();
      return { secy: s, ifname: `ms${createHash('sha1').update(iface).digest('hex').slice(0, 6)}`.slice(0, 15), stats: () => s.stats() };
    },
    linkFactory: udpLinkFactory(relayPort),
    lanOf: (iface) => `${values['lan-prefix']}-${iface}`,
    macOf: (iface) => simMac(me.id, iface),
    ovs: values.ovsdb ? new OvsdbClient(values.ovsdb) : undefined,
    mka: { helloTimeMs: values['hello-ms'] ? Number(values['hello-ms']) : undefined, lifeTimeMs: values['life-ms'] ? Number(values['life-ms']) : undefined },
  });
  agent.start();
  let grpcPort = 0;
  if (values.listen) {
    const s = await startAgentServer(serverCredentials(tls), values.listen);
    grpcPort = s.port;
  }
  let metricsPort = 0;
  if (values.metrics) {
    const i = values.metrics.lastIndexOf(':');
    metricsPort = (await serveMetrics(() => renderAgentMetrics(agent), values.metrics.slice(0, i), Number(values.metrics.slice(i + 1)))).port;
  }
  process.stdout.write(JSON.stringify({ ready: true, agent: me.id, grpcPort, metricsPort }) + '\n');
  const stop = async () => {
    await agent.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
}

main().catch((e) => {
  process.stderr.write(JSON.stringify({ level: 'error', msg: 'agent failed to start', error: (e as Error).message }) + '\n');
  process.exit(1);
});
