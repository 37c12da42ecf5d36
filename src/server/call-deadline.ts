/**
 * Whether a call ended because its deadline passed or because its client
 * cancelled it. grpc-js aborts a call's signal the same way for both, and a
 * client's own deadline timer usually wins the race against the server's
 * (the client sends a cancel exactly at its deadline), so the server tells
 * them apart by the time: a call that ends within DEADLINE_SLACK_MS of its
 * deadline ended by its deadline.
 */
import { ServerInterceptingCall, type ServerInterceptor } from '@grpc/grpc-js';
import { Errors, type OffloadError } from '../errors.js';

/**
 * Where the interceptor hands a call's deadline (ms since the epoch) to the
 * handlers, which only see nice-grpc's context. Written by the server alone:
 * a value a client sends under this name is dropped.
 */
const DEADLINE_KEY = 'x-offload-internal-deadline';

/**
 * The client's cancel and the server's deadline both fall at the deadline (the
 * request took as long to arrive as the cancel does); this covers timer and
 * event-loop jitter between the two.
 */
export const DEADLINE_SLACK_MS = 100;

/**
 * A grpc-js server interceptor: records each call's deadline (from
 * grpc-timeout) where nice-grpc's handlers can read it. Calls served by
 * offload's own handlers (`direct`, their paths) read it from grpc-js's call
 * and pass through: the interceptor costs each call several objects.
 */
export function recordDeadline(direct: ReadonlySet<string>): ServerInterceptor {
  return (method, call) =>
    direct.has(method.path)
      ? // grpc-js hands each interceptor the call the last one returned: returning it unchanged passes it through.
        (call as ServerInterceptingCall)
      : new ServerInterceptingCall(call, {
          start(next) {
            next({
              onReceiveMetadata(metadata, pass) {
                metadata.remove(DEADLINE_KEY);
                const ms = deadlineMs(call.getDeadline());
                if (Number.isFinite(ms)) metadata.set(DEADLINE_KEY, String(ms));
                pass(metadata);
              },
            });
          },
        });
}

/** A grpc-js deadline in ms since the epoch; Infinity when there is none. */
export function deadlineMs(deadline: Date | number): number {
  return deadline instanceof Date ? deadline.getTime() : deadline;
}

/** Why a call whose signal aborted ended: its deadline passed (DEADLINE_EXCEEDED) or its client cancelled it. */
export function callEndReason(metadata: { get(key: string): unknown }, now = Date.now()): OffloadError {
  return endReasonAt(Number(metadata.get(DEADLINE_KEY)), now);
}

/** Why a call with this deadline (ms since the epoch; NaN or Infinity: none) ended now. */
export function endReasonAt(deadline: number, now = Date.now()): OffloadError {
  return Number.isFinite(deadline) && now >= deadline - DEADLINE_SLACK_MS ? Errors.deadlinePassed : Errors.callCancelled;
}
