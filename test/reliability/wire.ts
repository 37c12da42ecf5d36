/**
 * Request bodies as raw bytes, for a generic grpc-js client that sends and
 * receives Buffers untouched: well-formed ones from the generated encoders,
 * and hand-made ones (nesting far deeper than any encoder would recurse).
 */
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
  return Buffer.from(RunRequest.encode({ task, input, data: bytes(data) }).finish());
}

export function runStreamBody({ task, input, data }: RequestFields): Buffer {
  return Buffer.from(RunStreamRequest.encode({ task, input, data: bytes(data) }).finish());
}

export function batchItemBody(id: string, { task, input, data }: RequestFields): Buffer {
  return Buffer.from(RunBatchRequest.encode({ id, task, input, data: bytes(data) }).finish());
}

export const decodeRunResponse = (bytes: Buffer): RunResponse => RunResponse.decode(bytes);
export const decodeStreamEvent = (bytes: Buffer): RunStreamResponse => RunStreamResponse.decode(bytes);
export const decodeBatchEvent = (bytes: Buffer): RunBatchResponse => RunBatchResponse.decode(bytes);

// ---- a minimal protobuf writer ------------------------------------------------

const LEN = 2;
const I64 = 1;
const VARINT = 0;

export function varint(value: number | bigint): Buffer {
  let n = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    let byte = Number(n & 0x7fn);
    n >>= 7n;
    if (n > 0n) byte |= 0x80;
    out.push(byte);
  } while (n > 0n);
  return Buffer.from(out);
}

export const tag = (field: number, wireType: number): Buffer => varint((field << 3) | wireType);
export const lenField = (field: number, payload: Buffer): Buffer => Buffer.concat([tag(field, LEN), varint(payload.length), payload]);
export const varintField = (field: number, value: number | bigint): Buffer => Buffer.concat([tag(field, VARINT), varint(value)]);
export function doubleField(field: number, value: number): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeDoubleLE(value);
  return Buffer.concat([tag(field, I64), payload]);
}

/** google.protobuf.Value bodies (the bytes inside a Value). */
export const value = {
  null: (): Buffer => varintField(1, 0),
  number: (n: number): Buffer => doubleField(2, n),
  string: (s: string): Buffer => lenField(3, Buffer.from(s)),
  bool: (b: boolean): Buffer => varintField(4, b ? 1 : 0),
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
    let header: Buffer;
    if (kind === 'list') {
      // Value{6: ListValue{1: Value}}
      const listBody = tag(1, LEN).length + varint(inner).length + inner;
      header = Buffer.concat([tag(6, LEN), varint(listBody), tag(1, LEN), varint(inner)]);
    } else {
      // Value{5: Struct{1: FieldsEntry{1: "k", 2: Value}}}
      const key = lenField(1, Buffer.from('k'));
      const entryBody = key.length + tag(2, LEN).length + varint(inner).length + inner;
      const structBody = tag(1, LEN).length + varint(entryBody).length + entryBody;
      header = Buffer.concat([tag(5, LEN), varint(structBody), tag(1, LEN), varint(entryBody), key, tag(2, LEN), varint(inner)]);
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
