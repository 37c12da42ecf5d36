import type { handleServerStreamingCall, ServerWritableStream } from '@grpc/grpc-js';
import type { OffloadError } from '../errors.js';
import { ComputeServiceDefinition, type Progress, type RunStreamRequest, type RunStreamResponse } from '../gen/offload/v1/compute.js';
import type { EventReader, TaskEvent } from '../pool/follower.js';
import type { OpenCall } from './call-scope.js';
import { DirectCall, type CallOwner } from './direct-call.js';
import type { Lease } from './lease.js';
import type { StartTask } from './start-task.js';
import { toEventFields } from './to-wire.js';

export const RUN_STREAM_PATH = `/${ComputeServiceDefinition.fullName}/${ComputeServiceDefinition.methods.runStream.name}`;

export interface RunStreamDeps {
  openCall: OpenCall;
  startTask: StartTask;
  /** Longest silence on the stream while its task is in flight. */
  heartbeatMs: number;
}

/**
 * RunStream as a grpc-js handler: the lease's events are written as they
 * become readable, while the stream takes them (on backpressure it waits for
 * `drain`, and the job keeps only the latest progress meanwhile); a silence
 * of `heartbeatMs` is filled with the latest progress again, so a proxy's
 * idle timeout never cuts a healthy long task. No generator and no promise
 * per event.
 */
export function serveRunStream(deps: RunStreamDeps): handleServerStreamingCall<RunStreamRequest, RunStreamResponse> {
  return (stream) => void new RunStreamCall(stream, deps);
}

/** One RunStream call. A class, not closures: the heap per open stream is a figure users plan capacity by. */
class RunStreamCall implements CallOwner {
  readonly #stream: ServerWritableStream<RunStreamRequest, RunStreamResponse>;
  readonly #call: DirectCall<RunStreamRequest, RunStreamResponse>;
  #lease: Lease | undefined;
  #reader: EventReader<TaskEvent & { cached?: boolean }> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #latest: Progress | undefined;
  #blocked = false;
  #pumping = false;
  readonly #pump = (): void => this.pump();

  constructor(stream: ServerWritableStream<RunStreamRequest, RunStreamResponse>, { openCall, startTask, heartbeatMs }: RunStreamDeps) {
    this.#stream = stream;
    this.#call = new DirectCall(stream, RUN_STREAM_PATH, openCall, stream.request, this);
    if (!this.#call.open) return;
    try {
      // No holder: this call lets go of its lease itself when it ends (#end).
      const leased = startTask(stream.request, this.#call.record, undefined, true);
      if (leased instanceof Promise) leased.then((lease) => this.#begin(lease, heartbeatMs), (error: unknown) => this.#call.fail(error));
      else this.#begin(leased, heartbeatMs);
    } catch (error) {
      this.#call.fail(error);
    }
  }

  #begin(lease: Lease, heartbeatMs: number): void {
    // The call ended while the task was being admitted: nobody will read it.
    if (!this.#call.open) return lease.release(this.#call.endReason());
    this.#lease = lease;
    this.#timer = setTimeout(() => this.#beat(), heartbeatMs);
    this.#reader = lease.watch(this.#pump);
    this.pump();
  }

  /** Writes what is readable while the stream takes it. */
  pump(): void {
    // A read can call back at once (the follower says so as it ends): the loop below reads on anyway.
    if (!this.#reader || this.#blocked || this.#pumping) return;
    this.#pumping = true;
    try {
      for (let step = this.#reader.read(); step !== undefined; step = this.#reader.read()) {
        if ('error' in step) return this.#call.fail(step.error);
        if ('end' in step) return this.#call.end();
        const { event } = step;
        this.#timer!.refresh();
        if (event.type === 'progress') this.#latest = { fraction: event.fraction, message: event.message };
        if (event.type === 'result') Object.assign(this.#call.record, { queuedMs: event.queuedMs, runMs: event.runMs });
        const more = this.#stream.write(toEventFields(event, this.#lease!.cached));
        if (event.type === 'result') return this.#call.end();
        if (!more) {
          this.#blocked = true;
          this.#stream.once('drain', () => {
            this.#blocked = false;
            this.pump();
          });
          return;
        }
      }
    } finally {
      this.#pumping = false;
    }
  }

  #beat(): void {
    // A stream the client is not reading is not silent: its messages wait in the buffers.
    if (!this.#blocked) this.#stream.write(toEventFields({ type: 'progress', ...(this.#latest ?? { fraction: 0, message: '' }) }, this.#lease!.cached));
    this.#timer!.refresh();
  }

  /** The call ended: its lease goes, with the call's reason when its client or deadline ended it (the job is cancelled unless an identical request still holds it). */
  ended(cut: OffloadError | undefined): void {
    clearTimeout(this.#timer);
    if (cut) this.#lease?.release(cut);
    this.#reader?.close();
  }
}
