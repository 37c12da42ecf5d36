/**
 * The FileDescriptorSet that server reflection serves: offload's contract
 * plus the health and reflection services, so tools can describe every
 * service this server exposes. Built from the .proto files at start-up with
 * @grpc/proto-loader, which keeps each file's serialized descriptor.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadSync } from '@grpc/proto-loader';

const require = createRequire(import.meta.url);
const ownExtension = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
const protoDir = fileURLToPath(new URL(ownExtension === '.ts' ? '../../proto' : '../../../proto', import.meta.url));
const healthDir = join(dirname(require.resolve('grpc-health-check/package.json')), 'proto');
const reflectionDir = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto');

const FILES = [
  'offload/v1/compute.proto',
  'health/v1/health.proto',
  'grpc/reflection/v1/reflection.proto',
  'grpc/reflection/v1alpha/reflection.proto',
];

/** Encodes a google.protobuf.FileDescriptorSet: field 1, one FileDescriptorProto per file. */
export function buildDescriptorSet(): Buffer {
  const definition = loadSync(FILES, { includeDirs: [protoDir, healthDir, reflectionDir] });
  const files = new Map<string, Buffer>();
  for (const entry of Object.values(definition)) {
    const protos = 'fileDescriptorProtos' in entry ? (entry.fileDescriptorProtos as Buffer[]) : [];
    for (const proto of protos) files.set(proto.toString('base64'), proto);
  }
  const parts: Buffer[] = [];
  for (const proto of files.values()) parts.push(Buffer.from([0x0a]), varint(proto.length), proto);
  return Buffer.concat(parts);
}

function varint(n: number): Buffer {
  const bytes: number[] = [];
  while (n > 0x7f) {
    bytes.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  bytes.push(n);
  return Buffer.from(bytes);
}
