/** Starts a real FreeRADIUS 3.2 (`freeradius -X -d <dir>`) on loopback with a generated EAP-TLS config. */
import { spawn, type ChildProcess } from 'node:child_process';
import * as dgram from 'node:dgram';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestPki } from './pki.js';

export interface FreeRadius {
  readonly port: number;
  readonly dir: string;
  output(): string;
  stop(): Promise<void>;
}

export async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface FreeRadiusOptions {
  readonly pki: TestPki;
  readonly secret: string;
  readonly tlsMaxVersion?: '1.2' | '1.3';
  readonly fragmentSize?: number;
  /** Run inside this network namespace (on its loopback); the port is then chosen at random. */
  readonly netns?: string;
}

export async function startFreeRadius(opts: FreeRadiusOptions): Promise<FreeRadius> {
  const dir = mkdtempSync(join(tmpdir(), 'freeradius-'));
  const port = opts.netns ? 20000 + Math.floor(Math.random() * 20000) : await freeUdpPort();
  writeFreeRadiusConfig(dir, port, opts);
  const argv = ['-X', '-f', '-d', dir];
  const child: ChildProcess = opts.netns
    ? spawn('ip', ['netns', 'exec', opts.netns, 'freeradius', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('freeradius', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((r) => child.on('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`FreeRADIUS did not start:\n${out.slice(-3000)}`)), 20000);
    const check = () => {
      if (out.includes('Ready to process requests')) {
        clearTimeout(t);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`FreeRADIUS exited with ${code}:\n${out.slice(-3000)}`));
    });
  });
  return {
    port,
    dir,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * Writes a minimal FreeRADIUS 3.2 configuration (EAP-TLS, EAP-Key-Name in Access-Accept, one
 * client 127.0.0.1 with `secret`, auth on 127.0.0.1:`port`) into `dir`; run it with
 * `freeradius -X -f -d <dir>` (also used inside the UML lab, test/lab/eap/).
 */
export function writeFreeRadiusConfig(dir: string, port: number, opts: Omit<FreeRadiusOptions, 'netns'>): void {
  const { pki } = opts;
  writeFileSync(join(dir, 'dictionary'), '');
  writeFileSync(
    join(dir, 'radiusd.conf'),
    `
prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = ${dir}
sbindir = /usr/sbin
logdir = ${dir}
raddbdir = ${dir}
radacctdir = ${dir}
name = freeradius
confdir = ${dir}
modconfdir = ${dir}
certdir = ${dir}
cadir = ${dir}
run_dir = ${dir}
db_dir = ${dir}
libdir = /usr/lib/freeradius
pidfile = ${dir}/radiusd.pid
max_request_time = 30
cleanup_delay = 2
max_requests = 4096
hostname_lookups = no
log {
  destination = stdout
  colourise = no
  stripped_names = no
  auth = yes
}
security {
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = no
}
thread pool {
  start_servers = 2
  max_servers = 4
  min_spare_servers = 1
  max_spare_servers = 4
  max_requests_per_server = 0
}
client nfvtest {
  ipaddr = 127.0.0.1
  secret = ${opts.secret}
  require_message_authenticator = yes
  nas_type = other
}
modules {
  eap {
    default_eap_type = tls
    timer_expire = 60
    ignore_unknown_eap_types = no
    max_sessions = 4096
    tls-config tls-common {
      private_key_file = ${pki.server.keyPath}
      certificate_file = ${pki.server.certPath}
      ca_file = ${pki.ca.certPath}
      ca_path = ${dir}
      fragment_size = ${opts.fragmentSize ?? 1024}
      include_length = yes
      check_crl = no
      cipher_list = "DEFAULT"
      cipher_server_preference = no
      tls_min_version = "1.2"
      tls_max_version = "${opts.tlsMaxVersion ?? '1.2'}"
      ecdh_curve = "prime256v1"
      cache {
        enable = no
      }
      verify {
      }
    }
    tls {
      tls = tls-common
    }
  }
}
server default {
  listen {
    type = auth
    ipaddr = 127.0.0.1
    port = ${port}
  }
  authorize {
    eap {
      ok = return
    }
  }
  authenticate {
    eap
  }
  post-auth {
    update reply {
      &EAP-Key-Name := &reply:EAP-Session-Id
    }
    Post-Auth-Type REJECT {
      eap
    }
  }
}
`,
  );
}
