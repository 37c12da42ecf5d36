import type { handleServerStreamingCall } from '@grpc/grpc-js';
import { ComputeServiceDefinition, type Progress, type RunStreamRequest, type RunStreamResponse } from '../gen/offload/v1/compute.js';
import type { EventReader, TaskEvent } from '../pool/follower.js';
import { callEndReason } from './call-deadline.js';
import type { OpenCall } from './call-scope.js';
import { openDirectCall } from './direct-call.js';
import type { Lease } from './lease.js';
import type { StartTask } from './start-task.js';
import { toEventFields } from './to-wire.js';

const PATH = `/${ComputeServiceDefinition.fullName}/${ComputeServiceDefinition.methods.runStream.name}`;

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
 * per event, and per open stream one timer and one reader.
 */
export function serveRunStream({ openCall, startTask, heartbeatMs }: RunStreamDeps): handleServerStreamingCall<RunStreamRequest, RunStreamResponse> {
  return (stream) => {
    let reader: EventReader<TaskEvent & { cached?: boolean }> | undefined;
    let timer: NodeJS.Timeout | undefined;
    const call = openDirectCall(stream, PATH, openCall, stream.request, () => {
      clearTimeout(timer);
      // Lets go of the lease: a client that left cancels the job unless an identical request still holds it.
      reader?.close();
    });
    if (!call) return;
    let lease: Lease;
    let latest: Progress = { fraction: 0, message: '' };
    let blocked = false;
    let pumping = false;
    const pump = (): void => {
      // A read can call back at once (the follower says so as it ends): the loop below reads on anyway.
      if (!reader || blocked || pumping) return;
      pumping = true;
      try {
        for (let step = reader.read(); step !== undefined; step = reader.read()) {
          if ('error' in step) return call.fail(step.error);
          if ('end' in step) return call.end();
          const { event } = step;
          timer!.refresh();
          if (event.type === 'progress') latest = { fraction: event.fraction, message: event.message };
          if (event.type === 'result') Object.assign(call.record, { queuedMs: event.queuedMs, runMs: event.runMs });
          const more = stream.write(toEventFields(event, lease.cached));
          if (event.type === 'result') return call.end();
          if (!more) {
            blocked = true;
            stream.once('drain', unblock);
            return;
          }
        }
      } finally {
        pumping = false;
      }
    };
    const unblock = (): void => {
      blocked = false;
      pump();
    };
    const beat = (): void => {
      // A stream the client is not reading is not silent: its messages wait in the buffers.
      if (!blocked) stream.write(toEventFields({ type: 'progress', ...latest }, lease.cached));
      timer!.refresh();
    };
    const begin = (leased: Lease): void => {
      // A call that ended meanwhile: its lease let go when the signal aborted.
      if (call.signal.aborted) return;
      lease = leased;
      timer = setTimeout(beat, heartbeatMs);
      reader = lease.watch(pump);
      pump();
    };
    try {
      const leased = startTask(stream.request, call.record, { signal: call.signal, reason: () => callEndReason(call.metadata) }, true);
      if (leased instanceof Promise) leased.then(begin, (error: unknown) => call.fail(error));
      else begin(leased);
    } catch (error) {
      call.fail(error);
    }
  };
}
