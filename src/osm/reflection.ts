/**
 * Server reflection for the EE's own services (osm_ee.FrontendExecutor, grpc.health.v1.Health)
 * from the protoc-built descriptors embedded in gen/descriptors.ts, so grpcurl / buf curl work
 * without proto files.
 */
import type { Server } from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { splitDescriptorSet } from '../control/health.js';
import { EE_DESCRIPTOR_SET_B64 } from './gen/descriptors.js';

export const EE_SERVICES = ['osm_ee.FrontendExecutor', 'grpc.health.v1.Health'];

export function addEeReflection(server: Server): void {
  const files = splitDescriptorSet(Buffer.from(EE_DESCRIPTOR_SET_B64, 'base64'));
  const root = { all: { fileDescriptorProtos: files } } as unknown as ConstructorParameters<typeof ReflectionService>[0];
  new ReflectionService(root, { services: EE_SERVICES }).addToServer(server);
}
