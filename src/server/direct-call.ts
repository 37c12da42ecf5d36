import type { Metadata as GrpcJsMetadata, ServerDuplexStream, ServerWritableStream } from '@grpc/grpc-js';
import { Status } from 'nice-grpc';
import type { OffloadError } from '../errors.js';
import { deadlineMs, endReasonAt } from './call-deadline.js';
import type { CallRecord } from './call-record.js';
import type { CallScope, OpenCall } from './call-scope.js';
import type { MetadataReader } from './call-tenant.js';

type GrpcJsStream<Request, Response> = ServerWritableStream<Request, Response> | ServerDuplexStream<Request, Response>;

/** The handler of a DirectCall (an object, not a callback: no closure per call). */
export interface CallOwner {
  /** The call ended; `cut` is the reason when its client cancelled or its deadline passed. */
  ended(cut: OffloadError | undefined): void;
}

/**
 * A streaming call offload serves with its own grpc-js handler
 * (./grpc-server.ts): what nice-grpc and the call middleware give the
 * others. A class, not closures: an open stream holds one of these, and the
 * heap per open stream is a figure users plan capacity by.
 */
export class DirectCall<Request = unknown, Response = unknown> {
  #open = true;
  readonly #scope: CallScope;
  readonly #stream: GrpcJsStream<Request, Response>;
  readonly #owner: CallOwner;
  readonly #cancelled = (): void => this.#cancel();

  /**
   * Opens `stream`'s scope (./call-scope.ts). A refused call (credentials,
   * tenant, draining) is ended at once: `open` is false. The owner's `ended`
   * runs once whichever way the call ends, before its log line.
   */
  constructor(stream: GrpcJsStream<Request, Response>, path: string, openCall: OpenCall, request: unknown, owner: CallOwner) {
    this.#stream = stream;
    this.#owner = owner;
    this.#scope = openCall(path, new GrpcJsMetadataReader(stream.metadata) as MetadataReader, stream.getPeer(), request);
    stream.on('cancelled', this.#cancelled);
    if (this.#scope.refusal) this.fail(this.#scope.refusal);
    else if (stream.cancelled) this.#cancel();
  }

  get record(): CallRecord {
    return this.#scope.record;
  }

  /** False once the call has ended: by the handler, its client or its deadline. */
  get open(): boolean {
    return this.#open;
  }

  /** Why the call ended if it ended now without the handler: its deadline passed or its client cancelled. */
  endReason(): OffloadError {
    return endReasonAt(deadlineMs(this.#stream.getDeadline()));
  }

  /** Ends the call with OK once the messages written so far are flushed. */
  end(): void {
    if (!this.#close(Status.OK, undefined, undefined)) return;
    this.#stream.end();
  }

  /** Ends the call with the status `thrown` maps to (./call-scope.ts). */
  fail(thrown: unknown): void {
    const error = this.#scope.statusOf(thrown);
    if (!this.#close(error.code, error.details, undefined)) return;
    // grpc-js ends the stream with this status once what was written is flushed.
    this.#stream.emit('error', { code: error.code, details: error.details });
  }

  #cancel(): void {
    const reason = this.endReason();
    this.#close(reason.code, reason.message, reason);
  }

  #close(code: Status, message: string | undefined, cut: OffloadError | undefined): boolean {
    if (!this.#open) return false;
    this.#open = false;
    this.#stream.off('cancelled', this.#cancelled);
    this.#owner.ended(cut);
    this.#scope.finish(code, message, cut);
    return true;
  }
}

/** grpc-js metadata read as nice-grpc reads it: a key's values joined by ", ", a binary key's first. */
class GrpcJsMetadataReader {
  constructor(readonly metadata: GrpcJsMetadata) {}

  get(key: string): string | Uint8Array | undefined {
    const values = this.metadata.get(key);
    if (values.length === 0) return undefined;
    return key.endsWith('-bin') ? values[0] : values.join(', ');
  }
}

