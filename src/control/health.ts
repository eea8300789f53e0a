/** The standard grpc.health.v1 service (Check, List, Watch). */
import type { Server, ServerUnaryCall, ServerWritableStream, sendUnaryData } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import {
  HealthService,
  HealthCheckResponse_ServingStatus as S,
  type HealthCheckRequest,
  type HealthCheckResponse,
  type HealthListResponse,
} from './gen/grpc/health/v1/health.js';
import { loadPackageDefinition } from './protos.js';
import { FILE_DESCRIPTOR_SET_B64 } from './gen/descriptors.js';

export class HealthImpl {
  private readonly statuses = new Map<string, S>();
  private readonly watchers = new Set<{ service: string; call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse>; last: S | undefined }>();

  constructor(services: string[]) {
    this.set('', S.SERVING);
    for (const s of services) this.set(s, S.SERVING);
  }

  set(service: string, st: S): void {
    this.statuses.set(service, st);
    for (const w of this.watchers)
      if (w.service === service && w.last !== st) {
        w.last = st;
        w.call.write({ status: st });
      }
  }

  /** Marks everything NOT_SERVING (graceful shutdown). */
  shutdown(): void {
    for (const k of [...this.statuses.keys()]) this.set(k, S.NOT_SERVING);
  }

  addTo(server: Server): void {
    server.addService(HealthService, {
      check: (call: ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>, cb: sendUnaryData<HealthCheckResponse>) => {
        const st = this.statuses.get(call.request.service);
        if (st === undefined) return cb({ code: status.NOT_FOUND, details: `service '${call.request.service}' unknown` });
        cb(null, { status: st });
      },
      list: (_call: ServerUnaryCall<unknown, HealthListResponse>, cb: sendUnaryData<HealthListResponse>) => {
        const statuses: Record<string, HealthCheckResponse> = {};
        for (const [k, v] of this.statuses) statuses[k] = { status: v };
        cb(null, { statuses });
      },
      watch: (call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse>) => {
        const service = call.request.service;
        const st = this.statuses.get(service) ?? S.SERVICE_UNKNOWN;
        const w = { service, call, last: st };
        this.watchers.add(w);
        call.write({ status: st });
        call.on('cancelled', () => this.watchers.delete(w));
        call.on('close', () => this.watchers.delete(w));
      },
    });
  }
}

/** Splits a FileDescriptorSet (field 1: repeated FileDescriptorProto) into the raw file descriptors. */
export function splitDescriptorSet(set: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let i = 0;
  const varint = () => {
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = set[i++]!;
      v += (b & 0x7f) * mul;
      if (!(b & 0x80)) return v;
      mul *= 128;
    }
  };
  while (i < set.length) {
    const tag = varint();
    if (tag !== 0x0a) throw new Error('unexpected field in FileDescriptorSet');
    const len = varint();
    out.push(set.subarray(i, i + len));
    i += len;
  }
  return out;
}

/**
 * Adds grpc.reflection.v1 and v1alpha listing `services`, from the protoc-built descriptors
 * (exact, including proto3 optional), falling back to proto-loader for other files.
 */
export function addReflection(server: Server, services: string[]): void {
  const files = splitDescriptorSet(Buffer.from(FILE_DESCRIPTOR_SET_B64, 'base64'));
  const root = { all: { fileDescriptorProtos: files } } as unknown as ConstructorParameters<typeof ReflectionService>[0];
  new ReflectionService(root, { services }).addToServer(server);
}

/** proto-loader definition of our files (for dynamic clients). */
export const loadDefinitions = loadPackageDefinition;
