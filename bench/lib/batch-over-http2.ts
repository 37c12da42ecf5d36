/**
 * The load generator's RunBatch, written straight onto an HTTP/2 stream.
 *
 * grpc-js's client streams send one message per socket write: each write
 * waits for the one before to reach the socket, so a 20 000-item batch cost
 * the load generator 100-170 µs of CPU per item (a third of it in the
 * kernel), more than the fastest server spent, on the same two cores. Here
 * the items are framed before the clock starts and written many to a write
 * (still waiting for 'drain' when the stream refuses one), and events are
 * read only as far as their id and kind. The wire is the same gRPC: length-
 * prefixed protobuf messages, grpc-status in the trailers.
 */
import { once } from 'node:events';
import { connect, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { performance } from 'node:perf_hooks';
import type { BatchItem, BatchOutcome } from './driver.js';

const RUN_BATCH = '/offload.v1.ComputeService/RunBatch';
/** Items framed into one write. */
const ITEMS_PER_WRITE = 64;
/** RunBatchResponse's fields: 1 id, then one of 2 started, 3 progress, 4 result, 5 failure. */
const ID = 1;
const RESULT = 4;
const FAILURE = 5;

/** What an item of a batch has had: no terminal event yet, one result, one failure, or more than one. */
const enum Seen {
  Nothing,
  Result,
  Failure,
  Several,
}

/** `bodies` are the encoded RunBatchRequests; `decode` reads a whole event, used only for the first failure. */
export function runBatchOverHttp2(
  session: ClientHttp2Session,
  metadata: Record<string, string>,
  items: readonly BatchItem[],
  bodies: readonly Uint8Array[],
  decode: (bytes: Buffer) => { failure?: { code: number; message: string } | null },
  timeoutMs: number,
): Promise<BatchOutcome> {
  const writes: Buffer[] = [];
  for (let at = 0; at < bodies.length; at += ITEMS_PER_WRITE) writes.push(Buffer.concat(bodies.slice(at, at + ITEMS_PER_WRITE).flatMap(frame)));
  return new Promise<BatchOutcome>((resolve, reject) => {
    // Exactly one terminal event per item is the contract.
    const seen = new Map<string, Seen>(items.map((item) => [item.id, Seen.Nothing]));
    const outcome: BatchOutcome = { results: 0, failures: 0, anomalies: 0, events: 0, startedAt: performance.now(), endedAt: 0 };
    let settled = false;
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      stream.close();
      reject(error);
    };
    const stream = session.request({
      ':method': 'POST',
      ':path': RUN_BATCH,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-timeout': `${timeoutMs}m`,
      ...metadata,
    });
    const onEvent = (bytes: Buffer): void => {
      outcome.events++;
      const { id, field } = batchEventHead(bytes);
      if (field !== RESULT && field !== FAILURE) return;
      const before = seen.get(id);
      if (before === undefined) outcome.anomalies++; // an id never sent
      else if (before !== Seen.Nothing) seen.set(id, Seen.Several);
      else if (field === RESULT) seen.set(id, Seen.Result);
      else {
        seen.set(id, Seen.Failure);
        if (outcome.firstFailure === undefined) {
          const { failure } = decode(bytes);
          outcome.firstFailure = `item ${id}: code ${failure?.code ?? '?'} ${failure?.message ?? ''}`;
        }
      }
    };
    const frames = frameReader(onEvent);
    let status: IncomingHttpHeaders | undefined;
    // A trailers-only answer (an error before any message) carries its status in the headers.
    stream.on('response', (headers) => {
      if (headers['grpc-status'] !== undefined) status = headers;
    });
    stream.on('trailers', (trailers: IncomingHttpHeaders) => {
      status = trailers;
    });
    stream.on('data', (chunk: Buffer) => frames(chunk));
    stream.on('error', (error: Error) => fail(error));
    stream.on('close', () => {
      if (settled) return;
      const code = Number(status?.['grpc-status']);
      if (code !== 0) {
        const message = decodeURIComponent(String(status?.['grpc-message'] ?? ''));
        return fail(new Error(Number.isNaN(code) ? `the stream closed without a status (RST ${stream.rstCode})` : `code ${code} ${message}`));
      }
      settled = true;
      outcome.endedAt = performance.now();
      for (const state of seen.values()) {
        if (state === Seen.Result) outcome.results++;
        else if (state === Seen.Failure) outcome.failures++;
        else outcome.anomalies++; // no terminal event, or several
      }
      resolve(outcome);
    });
    const write = async (): Promise<void> => {
      outcome.startedAt = performance.now();
      for (const chunk of writes) {
        if (settled) return;
        if (!stream.write(chunk)) await once(stream, 'drain');
      }
      stream.end();
    };
    // A failed write ends in the stream's 'error', which rejects above.
    write().catch(() => {});
  });
}

/** A gRPC message on the wire: uncompressed flag, 4-byte big-endian length, the message. */
function frame(body: Uint8Array): Uint8Array[] {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(body.byteLength, 1);
  return [head, body];
}

/** Calls `onMessage` with each whole message as chunks of the stream arrive. */
function frameReader(onMessage: (message: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    let bytes: Buffer = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (bytes.length >= 5) {
      const length = bytes.readUInt32BE(1);
      if (bytes.length < 5 + length) break;
      onMessage(bytes.subarray(5, 5 + length));
      bytes = bytes.subarray(5 + length);
    }
    pending = bytes;
  };
}

/** A RunBatchResponse's id and the field number of its event, read off the wire without decoding the rest. */
export function batchEventHead(bytes: Uint8Array): { id: string; field: number } {
  let at = 0;
  let id = '';
  let field = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = bytes[at++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  while (at < bytes.length) {
    const key = varint();
    const number = Math.floor(key / 8);
    const wireType = key & 7;
    if (wireType === 0) varint();
    else if (wireType === 1) at += 8;
    else if (wireType === 5) at += 4;
    else if (wireType === 2) {
      const length = varint();
      if (number === ID) id = Buffer.from(bytes.buffer, bytes.byteOffset + at, length).toString('utf8');
      else field = number;
      at += length;
    } else throw new Error(`RunBatchResponse: wire type ${wireType} is not in the contract`);
  }
  return { id, field };
}

/** An HTTP/2 session to `address` (host:port, plaintext), opened on first use. */
export function lazySession(address: string): { get(): ClientHttp2Session; close(): void } {
  let session: ClientHttp2Session | undefined;
  return {
    get: () => {
      if (!session || session.closed || session.destroyed) {
        session = connect(`http://${address}`);
        // Errors reach the stream in flight; a session error with none open is moot.
        session.on('error', () => {});
      }
      return session;
    },
    close: () => session?.close(),
  };
}
