/**
 * Server reflection, v1 and v1alpha, from the point of view of a tool such as
 * grpcurl, Evans or Postman: no .proto at hand, only a reflection client
 * built at run time from @grpc/reflection's own reflection.proto. It lists
 * the services, fetches the file that declares each one and, by file name,
 * every file those depend on, then calls Run through a client made from
 * nothing but the reflected descriptors.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Client, credentials, loadPackageDefinition, type ClientDuplexStream, type GrpcObject, type ServiceClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { loadFileDescriptorSetFromBuffer, loadSync } from '@grpc/proto-loader';
import { create, createFileRegistry, fromBinary, fromJson, toBinary, toJson, type FileRegistry, type Message } from '@bufbuild/protobuf';
import {
  FieldDescriptorProto_Type,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  type FileDescriptorProto,
} from '@bufbuild/protobuf/wkt';
import { Status } from 'nice-grpc';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useSharedServer } from '../helpers/use-server.js';

const require = createRequire(import.meta.url);
const reflectionProtoDir = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build/proto');

const SERVICES = [
  'offload.v1.ComputeService',
  'grpc.health.v1.Health',
  'grpc.reflection.v1.ServerReflection',
  'grpc.reflection.v1alpha.ServerReflection',
];

// ---- The reflection client: messages as proto-loader gives them (keepCase) ---

interface ReflectionRequest {
  list_services?: string;
  file_by_filename?: string;
  file_containing_symbol?: string;
}
interface ReflectionResponse {
  message_response?: 'file_descriptor_response' | 'list_services_response' | 'error_response' | 'all_extension_numbers_response';
  file_descriptor_response?: { file_descriptor_proto: Buffer[] };
  list_services_response?: { service: { name: string }[] };
  error_response?: { error_code: number; error_message: string };
}

/** A reflection client for one protocol version, built from @grpc/reflection's .proto. */
function reflectionClient(version: 'v1' | 'v1alpha', address: string): Client {
  const definition = loadSync(`grpc/reflection/${version}/reflection.proto`, {
    includeDirs: [reflectionProtoDir],
    keepCase: true,
    oneofs: true,
    defaults: true,
  });
  const Service = lookup(loadPackageDefinition(definition), `grpc.reflection.${version}.ServerReflection`);
  return new Service(address, credentials.createInsecure());
}

/** A service's client constructor in a loaded package, by its full name. */
function lookup(root: GrpcObject, fullName: string): ServiceClientConstructor {
  let node: unknown = root;
  for (const part of fullName.split('.')) node = (node as Record<string, unknown>)[part];
  expect(node).toBeTypeOf('function');
  return node as ServiceClientConstructor;
}

/** Sends the requests on one ServerReflectionInfo stream and gathers one response per request. */
async function ask(client: Client, ...requests: ReflectionRequest[]): Promise<ReflectionResponse[]> {
  const call = (client as Client & { ServerReflectionInfo(): ClientDuplexStream<ReflectionRequest, ReflectionResponse> }).ServerReflectionInfo();
  const responses: ReflectionResponse[] = [];
  const done = new Promise<ReflectionResponse[]>((resolve, reject) => {
    call.on('data', (response: ReflectionResponse) => responses.push(response));
    call.on('error', reject);
    call.on('end', () => resolve(responses));
  });
  for (const request of requests) call.write(request);
  call.end();
  const all = await done;
  expect(all).toHaveLength(requests.length);
  return all;
}

interface EchoReply {
  result: { output: unknown; data: Buffer };
}

async function askOne(client: Client, request: ReflectionRequest): Promise<ReflectionResponse> {
  const [response] = await ask(client, request);
  return response!;
}

function decodeFiles(response: ReflectionResponse): FileDescriptorProto[] {
  expect(response.error_response).toBeFalsy();
  const bytes = response.file_descriptor_response?.file_descriptor_proto ?? [];
  expect(bytes.length).toBeGreaterThan(0);
  return bytes.map((b) => fromBinary(FileDescriptorProtoSchema, b));
}

/**
 * What grpcurl does: the file declaring `symbol`, then every file it depends
 * on, fetched by name until nothing is missing. Returns them dependencies first.
 */
async function resolveSymbol(client: Client, symbol: string): Promise<FileDescriptorProto[]> {
  const files = new Map<string, FileDescriptorProto>();
  const add = async (fetched: FileDescriptorProto[]): Promise<void> => {
    for (const file of fetched) {
      if (files.has(file.name)) continue;
      for (const dependency of file.dependency) {
        if (!files.has(dependency)) await add(decodeFiles(await askOne(client, { file_by_filename: dependency })));
      }
      files.set(file.name, file);
    }
  };
  await add(decodeFiles(await askOne(client, { file_containing_symbol: symbol })));
  return [...files.values()];
}

function registryOf(files: FileDescriptorProto[]): FileRegistry {
  // Throws if any type a file refers to is missing from the set.
  return createFileRegistry(create(FileDescriptorSetSchema, { file: files }));
}

// ---- Tests -------------------------------------------------------------------

const t = useSharedServer();

describe.each(['v1', 'v1alpha'] as const)('server reflection %s', (version) => {
  let client: Client;
  beforeAll(() => {
    client = reflectionClient(version, t.server.address);
  });
  afterAll(() => client.close());

  it('lists the compute, health and both reflection services', async () => {
    const response = await askOne(client, { list_services: '' });
    expect(response.message_response).toBe('list_services_response');
    const names = response.list_services_response!.service.map((s) => s.name);
    expect(names.sort()).toEqual([...SERVICES].sort());
  });

  it('answers several requests on one stream, in order', async () => {
    const responses = await ask(client, { list_services: '' }, { file_containing_symbol: 'offload.v1.RunRequest' }, { file_by_filename: 'google/protobuf/struct.proto' });
    expect(responses.map((r) => r.message_response)).toEqual(['list_services_response', 'file_descriptor_response', 'file_descriptor_response']);
  });

  it('describes offload.v1.ComputeService with its methods and their message types', async () => {
    const registry = registryOf(await resolveSymbol(client, 'offload.v1.ComputeService'));
    const service = registry.getService('offload.v1.ComputeService')!;
    expect(service.file.name).toBe('offload/v1/compute');
    const methods = Object.fromEntries(service.methods.map((m) => [m.name, [m.methodKind, m.input.typeName, m.output.typeName]]));
    expect(methods).toEqual({
      Run: ['unary', 'offload.v1.RunRequest', 'offload.v1.RunResponse'],
      RunStream: ['server_streaming', 'offload.v1.RunStreamRequest', 'offload.v1.RunStreamResponse'],
      RunBatch: ['bidi_streaming', 'offload.v1.RunBatchRequest', 'offload.v1.RunBatchResponse'],
      ListTasks: ['unary', 'offload.v1.ListTasksRequest', 'offload.v1.ListTasksResponse'],
      Submit: ['unary', 'offload.v1.SubmitRequest', 'offload.v1.SubmitResponse'],
      Watch: ['server_streaming', 'offload.v1.WatchRequest', 'offload.v1.WatchResponse'],
      GetJob: ['unary', 'offload.v1.GetJobRequest', 'offload.v1.GetJobResponse'],
      CancelJob: ['unary', 'offload.v1.CancelJobRequest', 'offload.v1.CancelJobResponse'],
    });
  });

  it('describes RunRequest with its task, input, data, no_cache and priority fields, input being a google.protobuf.Value', async () => {
    const [file] = decodeFiles(await askOne(client, { file_containing_symbol: 'offload.v1.RunRequest' }));
    expect(file!.name).toBe('offload/v1/compute.proto');
    expect(file!.package).toBe('offload.v1');
    expect(file!.dependency).toEqual(['google/protobuf/struct.proto', 'google/protobuf/timestamp.proto']);
    const runRequest = file!.messageType.find((m) => m.name === 'RunRequest')!;
    expect(runRequest.field.map((f) => [f.name, f.number, f.type, f.typeName])).toEqual([
      ['task', 1, FieldDescriptorProto_Type.STRING, ''],
      ['input', 2, FieldDescriptorProto_Type.MESSAGE, '.google.protobuf.Value'],
      ['data', 3, FieldDescriptorProto_Type.BYTES, ''],
      ['no_cache', 4, FieldDescriptorProto_Type.BOOL, ''],
      ['priority', 5, FieldDescriptorProto_Type.ENUM, '.offload.v1.Priority'],
    ]);
  });

  it('serves google/protobuf/struct.proto, which the contract depends on, by file name', async () => {
    const [file] = decodeFiles(await askOne(client, { file_by_filename: 'google/protobuf/struct.proto' }));
    expect(file!.package).toBe('google.protobuf');
    expect(file!.messageType.map((m) => m.name)).toEqual(expect.arrayContaining(['Struct', 'Value', 'ListValue']));
    const registry = registryOf(await resolveSymbol(client, 'offload.v1.TaskInfo'));
    expect(registry.getMessage('offload.v1.TaskInfo')!.field['inputSchema']!.message!.typeName).toBe('google.protobuf.Struct');
  });

  it('describes grpc.health.v1.Health with Check and Watch', async () => {
    const registry = registryOf(await resolveSymbol(client, 'grpc.health.v1.Health'));
    const service = registry.getService('grpc.health.v1.Health')!;
    expect(service.methods.find((m) => m.name === 'Check')).toMatchObject({ methodKind: 'unary' });
    expect(service.methods.find((m) => m.name === 'Watch')).toMatchObject({ methodKind: 'server_streaming' });
    const status = registry.getMessage('grpc.health.v1.HealthCheckResponse')!.field['status']!.enum!;
    expect(status.values.map((v) => v.name)).toEqual(['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN']);
  });

  it.each(['grpc.reflection.v1.ServerReflection', 'grpc.reflection.v1alpha.ServerReflection'])('describes %s itself', async (name) => {
    const registry = registryOf(await resolveSymbol(client, name));
    const service = registry.getService(name)!;
    expect(service.methods.map((m) => [m.name, m.methodKind])).toEqual([['ServerReflectionInfo', 'bidi_streaming']]);
    expect(registry.getMessage(`${name.replace(/ServerReflection$/, '')}ServerReflectionRequest`)).toBeDefined();
  });

  it('answers NOT_FOUND in an error response for a symbol or file it does not have', async () => {
    const [symbol, file] = await ask(client, { file_containing_symbol: 'no.such.Service' }, { file_by_filename: 'no/such.proto' });
    expect(symbol!.error_response?.error_code).toBe(Status.NOT_FOUND);
    expect(file!.error_response?.error_code).toBe(Status.NOT_FOUND);
  });

  it('gives enough to call Run on echo with JSON in and out, as grpcurl does, knowing only the reflected descriptors', async () => {
    const registry = registryOf(await resolveSymbol(client, 'offload.v1.ComputeService'));
    const run = registry.getService('offload.v1.ComputeService')!.methods.find((m) => m.name === 'Run')!;
    // grpcurl -d '{"task":"echo","input":{…},"data":"…"}' HOST offload.v1.ComputeService/Run
    const input = { greeting: 'hello', n: 3, list: [true, null, 'x'] };
    const request = fromJson(run.input, { task: 'echo', input, data: Buffer.from('raw bytes').toString('base64') }, { registry });
    const caller = new Client(t.server.address, credentials.createInsecure());
    try {
      const reply = await new Promise<Message>((resolve, reject) =>
        caller.makeUnaryRequest(
          `/${run.parent.typeName}/${run.name}`,
          (message: Message) => Buffer.from(toBinary(run.input, message)),
          (bytes: Buffer) => fromBinary(run.output, bytes),
          request,
          (error, response) => (error ? reject(error) : resolve(response!)),
        ),
      );
      const json = toJson(run.output, reply, { registry }) as { result: { output: unknown; data: string } };
      expect(json.result.output).toEqual(input);
      expect(Buffer.from(json.result.data, 'base64').toString()).toBe('raw bytes');
    } finally {
      caller.close();
    }
  });

  it('gives enough for a @grpc/proto-loader client loaded from the reflected descriptor set to call Run on echo', async () => {
    const files = await resolveSymbol(client, 'offload.v1.ComputeService');
    const set = Buffer.from(toBinary(FileDescriptorSetSchema, create(FileDescriptorSetSchema, { file: files })));
    const definition = loadFileDescriptorSetFromBuffer(set, { keepCase: true, oneofs: true });
    const Compute = lookup(loadPackageDefinition(definition), 'offload.v1.ComputeService');
    const compute = new Compute(t.server.address, credentials.createInsecure()) as unknown as Client & {
      Run(request: object, callback: (error: ServiceError | null, response?: EchoReply) => void): void;
    };
    try {
      // A string Value: protobufjs reads map fields of a descriptor set (Struct.fields) as lists of entries.
      const request = { task: 'echo', input: { string_value: 'hello' }, data: Buffer.from('raw bytes') };
      const response = await new Promise<EchoReply>((resolve, reject) =>
        compute.Run(request, (error, reply) => (error ? reject(error) : resolve(reply!))),
      );
      expect(response.result.output).toMatchObject({ kind: 'string_value', string_value: 'hello' });
      expect(response.result.data.toString()).toBe('raw bytes');
    } finally {
      compute.close();
    }
  });
});
