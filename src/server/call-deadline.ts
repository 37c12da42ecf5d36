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

/** A grpc-js server interceptor: records each call's deadline (from grpc-timeout) where handlers can read it. */
export const recordDeadline: ServerInterceptor = (_method, call) =>
  new ServerInterceptingCall(call, {
    start(next) {
      next({
        onReceiveMetadata(metadata, pass) {
          metadata.remove(DEADLINE_KEY);
          const deadline = call.getDeadline();
          const ms = deadline instanceof Date ? deadline.getTime() : deadline;
          if (Number.isFinite(ms)) metadata.set(DEADLINE_KEY, String(ms));
          pass(metadata);
        },
      });
    },
  });

/** Why a call whose signal aborted ended: its deadline passed (DEADLINE_EXCEEDED) or its client cancelled it. */
export function callEndReason(metadata: { get(key: string): unknown }, now = Date.now()): OffloadError {
  const deadline = Number(metadata.get(DEADLINE_KEY));
  return Number.isFinite(deadline) && now >= deadline - DEADLINE_SLACK_MS ? Errors.deadlinePassed : Errors.callCancelled;
}
