/** Benchmark agent process: many real Agent instances, each with its own TLS connection; each port runs a KaY alone on its own memory LAN. */
import { Agent } from '../../src/agent/managed/agent.js';
import { clientCredentials, loadTls } from '../../src/control/tls.js';
import { RecordingSecy } from '../../src/secy/recording.js';
import { MemoryHub } from '../../src/link/memory.js';
import { defaultKayFactory } from '../../src/port/driver.js';

const agents: Agent[] = [];
process.on('message', async (msg: { op: string; dir: string; ids: string[]; ports: number[] }) => {
  if (msg.op === 'start') {
    const hub = new MemoryHub();
    for (const [i, id] of msg.ids.entries()) {
      // every replica's address, each agent starting at another one (the agents spread over them)
      const addresses = msg.ports.map((_, j) => `127.0.0.1:${msg.ports[(i + j) % msg.ports.length]}`);
      const a = new Agent({
        id,
        managerAddress: addresses.join(','),
        credentials: clientCredentials(loadTls({ ca: `${msg.dir}/ca.crt`, cert: `${msg.dir}/agent-${id}.crt`, key: `${msg.dir}/agent-${id}.key` })),
        interfaces: [1, 2, 3, 4].map((i) => ({ name: `eth${i}`, mac: '' })),
        capabilities: ['psk'],
        secyFactory: () => ({ secy: new RecordingSecy(), ifname: 'ms0' }),
        // each port alone on its own LAN: a real KaY (so channels can be created), no peers
        kayFactory: defaultKayFactory,
        linkFactory: (lan) => hub.link(lan),
        lanOf: (iface) => `${id}-${iface}`,
        macOf: () => new Uint8Array(6),
        statusIntervalMs: 5_000,
        backoff: { initialMs: 500, maxMs: 5_000 },
      });
      a.start();
      agents.push(a);
      if (agents.length % 50 === 0) await new Promise((r) => setTimeout(r, 20)); // pace the TLS handshakes
    }
    const tick = setInterval(() => {
      const n = agents.filter((a) => a.state === 'connected').length;
      process.send!({ op: 'progress', connected: n });
      if (n === agents.length) clearInterval(tick);
    }, 250);
  } else if (msg.op === 'stop') {
    await Promise.all(agents.map((a) => a.kill()));
    process.exit(0);
  }
});
process.send!({ op: 'ready' });
