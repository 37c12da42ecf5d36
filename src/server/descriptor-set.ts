import { readFileSync } from 'node:fs';
import { packageFile } from '../package-paths.js';

/**
 * The FileDescriptorSet that server reflection serves: offload's contract,
 * google/protobuf/struct.proto, grpc.health.v1 and grpc.reflection.v1 and
 * v1alpha, so tools can describe every service this server exposes. Built by
 * buf (`npm run generate`, scripts/generate.sh) and checked for freshness by
 * `npm run lint:proto`; shipped as-is, so it is read from the package root.
 */
export function loadDescriptorSet(): Buffer {
  return readFileSync(packageFile('src/gen/descriptor-set.binpb'));
}
