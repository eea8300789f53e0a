/** Locating the .proto files and loading them dynamically (for server reflection). */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as protoLoader from '@grpc/proto-loader';

let cached: string | undefined;

export function protoDir(): string {
  if (cached) return cached;
  if (process.env.MACSEC_PROTO_DIR) return (cached = resolve(process.env.MACSEC_PROTO_DIR));
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const cand = join(dir, 'proto');
    if (existsSync(join(cand, 'macsec', 'v1', 'manager.proto'))) return (cached = cand);
    dir = dirname(dir);
  }
  throw new Error('cannot find the proto/ directory (set MACSEC_PROTO_DIR)');
}

export const MANAGER_PROTOS = ['macsec/v1/manager.proto', 'macsec/v1/agent.proto', 'grpc/health/v1/health.proto'];
export const AGENT_PROTOS = ['grpc/health/v1/health.proto', 'macsec/v1/types.proto'];

export function loadPackageDefinition(files: string[]): protoLoader.PackageDefinition {
  return protoLoader.loadSync(files, { includeDirs: [protoDir()], keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
}
