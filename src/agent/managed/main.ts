#!/usr/bin/env node
/**
 * macsec-agent: runs on a switch/network node, dials the manager.
 *   macsec-agent --manager 127.0.0.1:50051 --ca pki/ca.crt --cert pki/agent-a1.crt --key pki/agent-a1.key \
 *                --interfaces eth1,eth2 [--sim-lan-relay 127.0.0.1:40000] [--ovsdb /var/run/openvswitch/db.sock]
 *                [--listen 127.0.0.1:0] [--metrics 127.0.0.1:9465] [--hello-ms 2000] [--life-ms 6000]
 *                [--io sim|pcap] [--secy sim|kernel]
 *                [--eap-ca vnf-ca.crt --eap-server-cert eap.crt --eap-server-key eap.key] [--radius-secrets secrets.yaml]
 * The agent id is taken from the certificate (URI SAN urn:macsec:agent:<id>). --manager takes
 * several replicas' addresses separated by commas (replicas on one etcd store): when its stream
 * is lost the agent moves to the next one, its ports running on meanwhile.
 * --io sim (default): EAPOL frames go over the simulated LAN (--sim-lan-relay, UDP on loopback);
 * --io pcap: EAPOL on the real interface (src/link/pcap.ts). --secy sim (default): a recording SecY;
 * --secy kernel: a Linux macsec netdev per port over netlink (src/port/io.ts, the same setup as the
 * standalone agent, stale-link clean-up included). Kernel mode is meant for namespaces/UML labs
 * with CONFIG_MACSEC.
 */
import { parseArgs } from 'node:util';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { EapAgentSettings } from './port.js';
import { createHash } from 'node:crypto';
import { createLogger } from '../../common/log.js';
import { certPrincipal, clientCredentials, loadTls, serverCredentials } from '../../control/tls.js';
import { serveMetrics } from '../../control/metrics.js';
import { Agent } from './agent.js';
import type { FrameLinkFactory } from '../../link/link.js';
import { udpLinkFactory } from '../../link/udp.js';
import { defaultKayFactory } from '../../port/driver.js';
import type { SecyFactory } from './port.js';
import { RecordingSecy } from '../../secy/recording.js';
import { OvsdbClient } from './ovs.js';
import { renderAgentMetrics, startAgentServer } from './server.js';
import { simMac } from './sim.js';

export /** How long peers keep our SAs after a planned stop (SIGUSR1); our peers honour up to 120 s. */
const SUSPEND_SECONDS = 60;

async function main(argv = process.argv.slice(2)): Promise<void> {
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
      io: { type: 'string', default: 'sim' },
      'eap-ca': { type: 'string' },
      'eap-server-cert': { type: 'string' },
      'eap-server-key': { type: 'string' },
      'radius-secrets': { type: 'string' },
      secy: { type: 'string', default: 'sim' },
      'life-ms': { type: 'string' },
    },
  });
  for (const k of ['ca', 'cert', 'key'] as const) if (!values[k]) throw new Error(`--${k} is required`);
  const tls = loadTls({ ca: values.ca!, cert: values.cert!, key: values.key! });
  const me = certPrincipal(tls.cert);
  if (!me || me.kind !== 'agent') throw new Error('--cert is not an agent certificate (needs URI SAN urn:macsec:agent:<id>)');
  const log = createLogger({ component: 'agent', agent: me.id });
  const io = values.io!;
  const secyMode = values.secy!;
  if (io !== 'sim' && io !== 'pcap') throw new Error('--io must be sim or pcap');
  if (secyMode !== 'sim' && secyMode !== 'kernel') throw new Error('--secy must be sim or kernel');
  if (io === 'sim' && !values['sim-lan-relay']) throw new Error('--sim-lan-relay host:port is required with --io sim');
  const macsecName = (iface: string) => `ms${createHash('sha1').update(iface).digest('hex').slice(0, 6)}`.slice(0, 15);
  let linkFactory: FrameLinkFactory;
  if (io === 'pcap') {
    const { openPcapLink } = await import('../../port/kernel-io.js');
    linkFactory = (iface) => openPcapLink(iface, log);
  } else {
    linkFactory = udpLinkFactory(Number(values['sim-lan-relay']!.split(':').pop()));
  }
  let secyFactory: SecyFactory;
  if (secyMode === 'kernel') {
    const { openKernelSecy } = await import('../../port/kernel-io.js');
    secyFactory = (spec, portLog) => openKernelSecy(spec, portLog);
  } else {
    secyFactory = (spec) => {
      const s = new RecordingSecy();
      return { secy: s, ifname: spec.macsecName, stats: () => s.stats() };
    };
  }
  const kayFactory = defaultKayFactory;
  const names = values.interfaces!.split(',').filter(Boolean);
  const eap: EapAgentSettings = {};
  if (values['eap-server-cert'] || values['eap-server-key'] || values['eap-ca']) {
    if (!values['eap-server-cert'] || !values['eap-server-key'] || !values['eap-ca'])
      throw new Error('--eap-ca, --eap-server-cert and --eap-server-key go together');
    eap.embedded = {
      ca: readFileSync(values['eap-ca'], 'utf8'),
      cert: readFileSync(values['eap-server-cert'], 'utf8'),
      key: readFileSync(values['eap-server-key'], 'utf8'),
    };
  }
  if (values['radius-secrets']) {
    // YAML map: secret name -> shared secret. Keep the file mode 0600.
    const m = parseYaml(readFileSync(values['radius-secrets'], 'utf8')) as Record<string, unknown>;
    eap.radiusSecrets = Object.fromEntries(Object.entries(m ?? {}).map(([k, v]) => [k, String(v)]));
  }
  const agent = new Agent({
    id: me.id,
    managerAddress: values.manager!,
    credentials: clientCredentials(tls, 'manager'),
    interfaces: names.map((n) => ({
      name: n,
      mac: Buffer.from(simMac(me.id, n))
        .toString('hex')
        .replace(/(..)(?!$)/g, '$1:'),
    })),
    log,
    kayFactory,
    secyFactory,
    linkFactory,
    macsecName,
    // pcap links are opened by interface name; simulated LANs are named per interface.
    lanOf: (iface) => (io === 'pcap' ? iface : `${values['lan-prefix']}-${iface}`),
    macOf: (iface) => simMac(me.id, iface),
    ovs: values.ovsdb ? new OvsdbClient(values.ovsdb) : undefined,
    eap,
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
  // SIGUSR1: planned restart; PSK ports announce in-service suspension, links and SAs stay (docs/mka.md).
  const suspend = async () => {
    log.info('suspending for a restart: macsec links and SAs stay', { signal: 'SIGUSR1' });
    await agent.suspend(SUSPEND_SECONDS);
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  process.on('SIGUSR1', () => void suspend());
}

main().catch((e) => {
  process.stderr.write(JSON.stringify({ level: 'error', msg: 'agent failed to start', error: (e as Error).message }) + '\n');
  process.exit(1);
});
