/** Prometheus text exposition (format 0.0.4) of port, agent and channel state. No key material. */
import { createServer, type Server } from 'node:http';
import { PortState, type PortStatus } from './gen/macsec/v1/types.js';

export interface PortSample {
  agent: string;
  port: string;
  channel: string;
  status: PortStatus;
}

// Exposition format 0.0.4: label values escape backslash, newline and double quote; HELP text
// escapes backslash and newline. Nothing an agent reports can start a line of its own.
const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const escHelp = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
/** Names an agent may report as counters: a Prometheus metric-name tail, bounded. */
export const COUNTER_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]{0,63}$/;
/** At most this many agent-reported counters per port are kept. */
export const MAX_PORT_COUNTERS = 256;
const labels = (l: Record<string, string>) =>
  `{${Object.entries(l)
    .map(([k, v]) => `${k}="${esc(v)}"`)
    .join(',')}}`;
const metricName = (s: string) => s.replace(/[^a-zA-Z0-9_]/g, '_');

export class MetricsBuilder {
  private readonly families = new Map<string, { help: string; type: 'gauge' | 'counter'; lines: string[] }>();

  add(name: string, type: 'gauge' | 'counter', help: string, l: Record<string, string>, value: number): void {
    this.addRendered(name, type, help, labels(l), value);
  }

  /** With the label set already rendered (`{k="v",...}`): a port's labels are escaped once, not per line. */
  addRendered(name: string, type: 'gauge' | 'counter', help: string, renderedLabels: string, value: number): void {
    let f = this.families.get(name);
    if (!f) this.families.set(name, (f = { help, type, lines: [] }));
    f.lines.push(`${name}${renderedLabels} ${Number.isFinite(value) ? value : 0}`);
  }

  render(): string {
    const out: string[] = [];
    for (const [name, f] of this.families) {
      out.push(`# HELP ${name} ${escHelp(f.help)}`, `# TYPE ${name} ${f.type}`, ...f.lines);
    }
    return out.join('\n') + '\n';
  }
}

const PORT_STATES = Object.values(PortState)
  .filter((v): v is PortState => typeof v === 'number' && v >= 1)
  .map((state) => ({ state, label: `,state="${esc(PortState[state]!.replace('PORT_STATE_', '').toLowerCase())}"}` }));

export function addPortMetrics(b: MetricsBuilder, samples: PortSample[]): void {
  for (const s of samples) {
    const l = labels({ agent: s.agent, port: s.port, channel: s.channel });
    const inner = l.slice(0, -1); // without the closing brace, for the state label
    const st = s.status;
    for (const { state, label } of PORT_STATES)
      b.addRendered('macsec_port_state', 'gauge', 'MKA/port state (1 for the current state)', inner + label, st.state === state ? 1 : 0);
    b.addRendered('macsec_port_secured', 'gauge', '1 when the port is secured', l, st.state === PortState.PORT_STATE_SECURED ? 1 : 0);
    b.addRendered('macsec_port_live_peers', 'gauge', 'MKA live peers', l, st.livePeers.length);
    b.addRendered('macsec_port_key_server', 'gauge', '1 when this port is the elected key server', l, st.keyServer ? 1 : 0);
    b.addRendered('macsec_port_key_number', 'gauge', 'Key number of the SAK in use', l, st.keyNumber);
    b.addRendered('macsec_port_rekeys_total', 'counter', 'SAK changes after the first key', l, st.rekeys);
    b.addRendered('macsec_port_mkpdus_sent_total', 'counter', 'MKPDUs sent', l, st.mkpdusSent);
    b.addRendered('macsec_port_mkpdus_received_total', 'counter', 'MKPDUs received', l, st.mkpdusReceived);
    b.addRendered('macsec_port_mkpdus_dropped_total', 'counter', 'MKPDUs dropped', l, st.mkpdusDropped);
    b.addRendered('macsec_port_icv_failures_total', 'counter', 'MKPDUs with a bad ICV', l, st.icvFailures);
    b.addRendered('macsec_port_ovs_attached', 'gauge', '1 when the macsec interface is attached to its OVS bridge', l, st.ovsAttached ? 1 : 0);
    for (const c of st.counters.slice(0, MAX_PORT_COUNTERS)) {
      if (!COUNTER_NAME_RE.test(c.name)) continue;
      const n = metricName(c.name);
      const isSa = n.startsWith('secy_') || n.startsWith('sa_');
      b.addRendered(
        `macsec_port_${n}`,
        isSa && !n.endsWith('_total') && !n.includes('packets') ? 'gauge' : 'counter',
        `${isSa ? 'SecY/SA' : 'MKA'} counter ${c.name}`,
        l,
        c.value,
      );
    }
  }
}

/** Serves GET /metrics with the text `render()` returns. Loopback by default. */
export async function serveMetrics(render: () => string, host = '127.0.0.1', port = 0): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url !== '/metrics' && req.url !== '/')) {
      res.writeHead(404).end('not found\n');
      return;
    }
    try {
      const body = render();
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body);
    } catch (e) {
      res.writeHead(500).end(`error: ${(e as Error).message}\n`);
    }
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  const addr = server.address();
  return { server, port: typeof addr === 'object' && addr ? addr.port : port, close: () => new Promise((r) => server.close(() => r())) };
}
