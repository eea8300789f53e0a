/**
 * GetSshKey: OSM's LCM asks the EE for an SSH public key (OpenSSH one-line format) and injects it
 * into the VNF so the EE could log in. This adapter never logs into VNFs (it talks to the MACsec
 * manager), so by default it answers an empty string. It can instead answer a configured public
 * key file, or a key pair it generates once (ed25519; private key kept in the state directory,
 * PKCS#8 PEM, mode 0600) for deployments whose VNFD asks for SSH access anyway.
 */
import { generateKeyPairSync, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type SshKeySetting = { mode: 'none' } | { mode: 'file'; path: string } | { mode: 'generate'; stateDir: string };

function sshString(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

export function openSshEd25519(pub: KeyObject, comment = 'macsec-osm-ee'): string {
  const jwk = pub.export({ format: 'jwk' });
  if (jwk.crv !== 'Ed25519' || !jwk.x) throw new Error('not an ed25519 public key');
  const raw = Buffer.from(jwk.x, 'base64url');
  const blob = Buffer.concat([sshString(Buffer.from('ssh-ed25519')), sshString(raw)]);
  return `ssh-ed25519 ${blob.toString('base64')} ${comment}`;
}

/** Resolves the setting to the public key line once (at startup), or '' for none. */
export function resolveSshPublicKey(s: SshKeySetting): string {
  switch (s.mode) {
    case 'none':
      return '';
    case 'file': {
      const line = readFileSync(s.path, 'utf8').trim().split('\n')[0] ?? '';
      if (!/^(ssh-|ecdsa-)[A-Za-z0-9-]+ [A-Za-z0-9+/=]+( .*)?$/.test(line)) throw new Error(`${s.path} is not an OpenSSH public key`);
      return line;
    }
    case 'generate': {
      const f = join(s.stateDir, 'ssh_ed25519.pem');
      let priv: KeyObject;
      if (existsSync(f)) {
        priv = createPrivateKey(readFileSync(f, 'utf8'));
      } else {
        mkdirSync(s.stateDir, { recursive: true, mode: 0o700 });
        priv = generateKeyPairSync('ed25519').privateKey;
        writeFileSync(f, priv.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      }
      return openSshEd25519(createPublicKey(priv));
    }
  }
}
