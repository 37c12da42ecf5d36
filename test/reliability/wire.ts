/**
 * Request bodies as raw bytes, for a generic grpc-js client that sends and
 * receives Buffers untouched: well-formed ones from the generated encoders,
 * and hand-made ones (nesting far deeper than any encoder would recurse).
 */
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import {
  RunBatchRequest,
  RunBatchResponse,
  RunRequest,
  RunResponse,
  RunStreamRequest,
  RunStreamResponse,
} from '../../src/gen/offload/v1/compute.js';

export const SERVICE = '/offload.v1.ComputeService';
export const PATHS = {
  run: `${SERVICE}/Run`,
  runStream: `${SERVICE}/RunStream`,
  runBatch: `${SERVICE}/RunBatch`,
  listTasks: `${SERVICE}/ListTasks`,
} as const;

export interface RequestFields {
  task: string;
  input?: unknown;
  data?: Uint8Array;
}

const bytes = (data: Uint8Array | undefined): Buffer => (data ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.alloc(0));

/** A RunRequest (and, with the same field numbers, a RunStreamRequest) as bytes. */
export function runBody({ task, input, data }: RequestFields): Buffer {
  return Buffer.from(RunRequest.encode({ task, input, data: bytes(data), noCache: false, priority: 0 }).finish());
}

export function runStreamBody({ task, input, data }: RequestFields): Buffer {
  return Buffer.from(RunStreamRequest.encode({ task, input, data: bytes(data), noCache: false, priority: 0 }).finish());
}

export function batchItemBody(id: string, { task, input, data }: RequestFields): Buffer {
  return Buffer.from(RunBatchRequest.encode({ id, task, input, data: bytes(data), noCache: false, priority: 0 }).finish());
}

export const decodeRunResponse = (bytes: Buffer): RunResponse => RunResponse.decode(bytes);
export const decodeStreamEvent = (bytes: Buffer): RunStreamResponse => RunStreamResponse.decode(bytes);
export const decodeBatchEvent = (bytes: Buffer): RunBatchResponse => RunBatchResponse.decode(bytes);

// ---- hand-made messages ------------------------------------------------------

// @bufbuild/protobuf's writer (the one the generated code uses) encodes each
// field; only the nesting below is assembled by hand.
const LEN = WireType.LengthDelimited;
const encode = (write: (writer: BinaryWriter) => BinaryWriter): Buffer => Buffer.from(write(new BinaryWriter()).finish());
export const lenField = (field: number, payload: Buffer): Buffer => encode((w) => w.tag(field, LEN).bytes(payload));

/** google.protobuf.Value bodies (the bytes inside a Value). */
export const value = {
  null: (): Buffer => encode((w) => w.tag(1, WireType.Varint).int32(0)),
  number: (n: number): Buffer => encode((w) => w.tag(2, WireType.Bit64).double(n)),
  string: (s: string): Buffer => encode((w) => w.tag(3, LEN).string(s)),
  bool: (b: boolean): Buffer => encode((w) => w.tag(4, WireType.Varint).bool(b)),
  /** A Value with no kind set: valid protobuf, but no JSON value. */
  empty: (): Buffer => Buffer.alloc(0),
  list: (items: Buffer[]): Buffer => lenField(6, Buffer.concat(items.map((item) => lenField(1, item)))),
  struct: (entries: [string, Buffer][]): Buffer =>
    lenField(5, Buffer.concat(entries.map(([key, item]) => lenField(1, Buffer.concat([lenField(1, Buffer.from(key)), lenField(2, item)]))))),
};

/**
 * A Value nested `depth` lists (or single-key structs) deep around `leaf`,
 * built from the inside out without recursion, so depths of a hundred
 * thousand cost only their bytes.
 */
export function nestedValue(depth: number, leaf: Buffer, kind: 'list' | 'struct' = 'list'): Buffer {
  const headers: Buffer[] = new Array<Buffer>(depth);
  let inner = leaf.length; // bytes of the Value one level in
  for (let level = depth - 1; level >= 0; level--) {
    // Each header ends with the length of the `inner` bytes that follow it.
    let header: Buffer;
    if (kind === 'list') {
      // Value{6: ListValue{1: Value}}
      const item = encode((w) => w.tag(1, LEN).uint32(inner));
      header = Buffer.concat([encode((w) => w.tag(6, LEN).uint32(item.length + inner)), item]);
    } else {
      // Value{5: Struct{1: FieldsEntry{1: "k", 2: Value}}}
      const entry = encode((w) => w.tag(1, LEN).string('k').tag(2, LEN).uint32(inner));
      const field = encode((w) => w.tag(1, LEN).uint32(entry.length + inner));
      header = Buffer.concat([encode((w) => w.tag(5, LEN).uint32(field.length + entry.length + inner)), field, entry]);
    }
    headers[level] = header;
    inner += header.length;
  }
  return Buffer.concat([...headers, leaf]);
}

/** A RunRequest with hand-made input Value bytes. */
export function rawRunBody(task: string, inputValue: Buffer | undefined, data?: Buffer): Buffer {
  const parts = [lenField(1, Buffer.from(task))];
  if (inputValue) parts.push(lenField(2, inputValue));
  if (data) parts.push(lenField(3, data));
  return Buffer.concat(parts);
}
