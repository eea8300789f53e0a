/** A small TypeScript client for the EE (the Python LCM-like client is lcm_client.py). */
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { FrontendExecutorClient, type PrimitiveReply } from '../../../src/osm/gen/osm_ee/frontend.js';

export interface RunResult {
  replies: PrimitiveReply[];
  last: PrimitiveReply | undefined;
}

export function eeClient(port: number, creds: ChannelCredentials = credentials.createInsecure()): FrontendExecutorClient {
  return new FrontendExecutorClient(`localhost:${port}`, creds);
}

export function runPrimitive(c: FrontendExecutorClient, name: string, params: string, timeoutMs = 30_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const replies: PrimitiveReply[] = [];
    const s = c.runPrimitive({ id: randomUUID(), name, params }, { deadline: new Date(Date.now() + timeoutMs) });
    s.on('data', (r: PrimitiveReply) => replies.push(r));
    s.on('error', reject);
    s.on('end', () => resolve({ replies, last: replies[replies.length - 1] }));
  });
}

export function getSshKey(c: FrontendExecutorClient): Promise<string> {
  return new Promise((resolve, reject) => c.getSshKey({}, (e, r) => (e ? reject(e) : resolve(r.message))));
}
