import type { Metadata as GrpcJsMetadata, ServerDuplexStream, ServerWritableStream } from '@grpc/grpc-js';
import { Status } from 'nice-grpc';
import { callEndReason } from './call-deadline.js';
import type { CallRecord } from './call-record.js';
import type { OpenCall } from './call-scope.js';
import type { MetadataReader } from './call-tenant.js';

type GrpcJsStream<Request, Response> = ServerWritableStream<Request, Response> | ServerDuplexStream<Request, Response>;

/**
 * A streaming call offload serves with its own grpc-js handler
 * (./grpc-server.ts): what nice-grpc and the call middleware give the
 * others, at one object per call.
 */
export interface DirectCall {
  readonly record: CallRecord;
  readonly metadata: MetadataReader;
  /** Aborts, with the call's end reason (deadline or cancel), when the client cancels or the deadline passes. */
  readonly signal: AbortSignal;
  /** Ends the call with OK once the messages written so far are flushed. */
  end(): void;
  /** Ends the call with the status `thrown` maps to (./call-scope.ts). */
  fail(thrown: unknown): void;
}

/**
 * Opens `stream`'s scope. Returns undefined when the call is refused
 * (credentials, tenant, draining), having ended it; `onEnd` runs once
 * whichever way the call ends, before its log line.
 */
export function openDirectCall<Request, Response>(
  stream: GrpcJsStream<Request, Response>,
  path: string,
  openCall: OpenCall,
  request: unknown,
  onEnd: () => void,
): DirectCall | undefined {
  const metadata = readGrpcJsMetadata(stream.metadata);
  const scope = openCall(path, metadata, stream.getPeer(), request);
  const controller = new AbortController();
  let open = true;
  const close = (code: Status, message: string | undefined, ended?: ReturnType<typeof callEndReason>): void => {
    open = false;
    stream.off('cancelled', cancelled);
    onEnd();
    scope.finish(code, message, ended);
  };
  const cancelled = (): void => {
    if (!open) return;
    const reason = callEndReason(metadata);
    controller.abort(reason);
    close(reason.code, reason.message, reason);
  };
  stream.on('cancelled', cancelled);
  if (stream.cancelled) cancelled();
  const call: DirectCall = {
    record: scope.record,
    metadata,
    signal: controller.signal,
    end() {
      if (!open) return;
      close(Status.OK, undefined);
      stream.end();
    },
    fail(thrown) {
      if (!open) return;
      const error = scope.statusOf(thrown);
      close(error.code, error.details);
      // grpc-js ends the stream with this status once what was written is flushed.
      stream.emit('error', { code: error.code, details: error.details });
    },
  };
  if (scope.refusal) {
    call.fail(scope.refusal);
    return undefined;
  }
  return call;
}

/** grpc-js metadata read as nice-grpc reads it: a key's values joined by ", ", a binary key's first. */
function readGrpcJsMetadata(metadata: GrpcJsMetadata): MetadataReader {
  return {
    get(key: string) {
      const values = metadata.get(key);
      if (values.length === 0) return undefined;
      return key.endsWith('-bin') ? values[0] : values.join(', ');
    },
  } as MetadataReader;
}
