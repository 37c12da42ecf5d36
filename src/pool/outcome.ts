/**
 * How a job ends: a worker's reply, or the crash piscina reports instead,
 * turned into a result or an OffloadError.
 */
import type { RunReply } from '../../bridge/messages.js';
import { Errors, OffloadError, statusFromName } from '../errors.js';
import type { Outcome } from './follower.js';
import type { Job } from './job.js';

export interface OutcomeOptions {
  /** The worker heap cap, named when a task runs out of it. */
  workerMaxMemoryMb?: number | undefined;
  /** The server's say on a result of this many bytes: an error when it cannot be sent. */
  checkResult?: ((task: string, bytes: number) => OffloadError | undefined) | undefined;
}

/**
 * The outcome of `job`: its cancel reason if it was asked to stop, else what
 * the reply says, else the crash. `queuedMs` is how long it waited, when it
 * started.
 */
export function outcomeOf(job: Job, reply: RunReply | undefined, crash: unknown, queuedMs: number | undefined, options: OutcomeOptions): Outcome {
  const { task } = job.request;
  if (job.cancelReason) return { error: job.cancelReason };
  if (!reply) return { error: workerCrash(task, crash, options.workerMaxMemoryMb) };
  if (reply.offload === 'failed') return { error: taskFailure(task, reply.code, reply.message, reply.detail) };
  const tooLarge = options.checkResult?.(task, reply.outputBytes + (reply.data?.byteLength ?? 0));
  if (tooLarge) return { error: tooLarge };
  return { result: { type: 'result', output: reply.output, data: reply.data, outputBytes: reply.outputBytes, queuedMs: queuedMs ?? 0, runMs: reply.runMs } };
}

/**
 * Events and the reply travel apart: before the outcome, followers get the
 * Started and the latest Progress that the reply knows of and they may not.
 */
export function catchUp(job: Job, reply: RunReply | undefined, queuedMs: number | undefined): void {
  if (!reply || queuedMs === undefined) return;
  job.publish({ type: 'started', queuedMs });
  const last = reply.lastProgress;
  const known = job.latestProgress;
  if (last && (last.fraction !== known?.fraction || last.message !== known.message)) job.publish({ type: 'progress', ...last });
}

/** A task's own failure: the code its TaskError chose, or INTERNAL naming the task. */
export function taskFailure(task: string, codeName: string | undefined, message: string, detail: string): OffloadError {
  const code = statusFromName(codeName);
  if (code !== undefined) return new OffloadError(code, message);
  return Errors.taskFailed(task, message, detail);
}

/** The worker died under the job: out of heap, or anything else. */
export function workerCrash(task: string, crash: unknown, workerMaxMemoryMb: number | undefined): OffloadError {
  const detail = crash instanceof Error ? (crash.stack ?? crash.message) : String(crash);
  if ((crash as { code?: unknown } | undefined)?.code === 'ERR_WORKER_OUT_OF_MEMORY') return Errors.workerOutOfMemory(task, workerMaxMemoryMb ?? 0, detail);
  return Errors.workerStopped(task, detail);
}


/** Why a job whose caller's signal fired ends: the signal's own OffloadError, the caller's reason, or CANCELLED. */
export function abortError(signal: AbortSignal, reason: (() => OffloadError) | undefined): OffloadError {
  return signal.reason instanceof OffloadError ? signal.reason : (reason?.() ?? Errors.callCancelled);
}
