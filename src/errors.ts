/**
 * offload's one error type. Everything that fails a call passes through
 * `OffloadError.from`, so the client sees an honest status and a message fit
 * to show, and the server keeps the stack for its log.
 */
import { ServerError, Status } from 'nice-grpc';
import { TENANT_NAME_RULE } from './tenant-name.js';

export { Status };

/**
 * The longest message a status carries. Messages can quote the caller's
 * input (a task name, a field name); unbounded, they could exceed HTTP/2's
 * header limit, and the trailers, with the status, would never arrive.
 */
export const MAX_MESSAGE_LENGTH = 1024;

/** Text cut to `max` characters, marking the cut. */
export function truncate(text: string, max = MAX_MESSAGE_LENGTH): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export class OffloadError extends Error {
  override name = 'OffloadError';
  constructor(
    readonly code: Status,
    message: string,
    /** What the server log gets beyond the message (a stack, say); never sent. */
    readonly detail?: string,
  ) {
    super(message);
  }

  /**
   * Normalises anything thrown. An error we did not make is an unexpected
   * one: the client gets a generic INTERNAL and the log gets the rest.
   */
  static from(error: unknown): OffloadError {
    if (error instanceof OffloadError) return error;
    if (error instanceof ServerError) return new OffloadError(error.code, error.details);
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    return new OffloadError(Status.INTERNAL, 'internal error', detail);
  }

  /** Whether the server should log this failure as its own fault. */
  get isServerFault(): boolean {
    return this.code === Status.INTERNAL || this.code === Status.UNKNOWN || this.code === Status.DATA_LOSS;
  }

  /** The message as it may go on the wire: bounded. */
  get wireMessage(): string {
    return truncate(this.message);
  }

  toServerError(): ServerError {
    return new ServerError(this.code, this.wireMessage);
  }
}

/**
 * Every message offload itself puts on the wire, by name: code and text are
 * written here once, and tests assert against these entries rather than
 * retyping the strings.
 */
export const Errors = {
  /** A call its client cancelled (or a run cancelled without a more specific reason). */
  callCancelled: new OffloadError(Status.CANCELLED, 'the call was cancelled'),
  /** A streaming call's handler ended while some of its runs were still going: no one reads them. */
  callEnded: new OffloadError(Status.CANCELLED, 'the call has ended'),
  /** A call whose deadline (the client's grpc-timeout) passed. */
  deadlinePassed: new OffloadError(Status.DEADLINE_EXCEEDED, "the call's deadline passed"),
  /** What every call still running at the end of a shutdown grace, or arriving during a drain, fails with. */
  shuttingDown: new OffloadError(Status.UNAVAILABLE, 'server shutting down'),
  queueFull: (waiting: number) => new OffloadError(Status.RESOURCE_EXHAUSTED, `the task queue is full (${waiting} waiting); retry later`),
  tenantQueueFull: (tenant: string, limit: number) =>
    new OffloadError(Status.RESOURCE_EXHAUSTED, `tenant "${tenant}" has its limit of ${limit} tasks waiting (--max-queue-per-tenant); retry later`),
  queueWaitExceeded: (task: string, maxQueueMs: number) =>
    new OffloadError(Status.RESOURCE_EXHAUSTED, `task ${task} waited ${maxQueueMs} ms for a worker; the server is overloaded, retry later`),
  runLimitExceeded: (task: string, limitMs: number) => new OffloadError(Status.DEADLINE_EXCEEDED, `task ${task} exceeded its run time limit of ${limitMs} ms`),
  resultTooLarge: (task: string, bytes: number, limit: number) =>
    new OffloadError(Status.RESOURCE_EXHAUSTED, `task ${task} returned about ${bytes} bytes, more than the ${limit}-byte message limit`),
  taskFailed: (task: string, message: string, detail?: string) => new OffloadError(Status.INTERNAL, `task ${task} failed: ${message}`, detail),
  workerStopped: (task: string, detail?: string) => new OffloadError(Status.INTERNAL, `task ${task} failed: its worker stopped unexpectedly`, detail),
  workerOutOfMemory: (task: string, limitMb: number, detail?: string) =>
    new OffloadError(Status.RESOURCE_EXHAUSTED, `task ${task} exceeded the worker memory limit of ${limitMb} MB`, detail),
  taskSuspended: (task: string, seconds: number, crashes: number) =>
    new OffloadError(Status.FAILED_PRECONDITION, `task ${task} is suspended for ${seconds} s: it crashed its worker ${crashes} times in a row`),
  unknownTask: (name: string) => new OffloadError(Status.NOT_FOUND, `unknown task "${name}"; ListTasks shows the tasks this server runs`),
  unknownJob: (id: string) => new OffloadError(Status.NOT_FOUND, `no job "${id}" here: it never was, its retention ended, or it lives on another replica; submit it again with the same job_id`),
  jobExists: (id: string) => new OffloadError(Status.ALREADY_EXISTS, `job "${id}" exists with a different request; choose another job_id`),
  invalidPriority: (value: number) => new OffloadError(Status.INVALID_ARGUMENT, `priority ${value} is not one of PRIORITY_LOW (1), PRIORITY_NORMAL (2) or PRIORITY_HIGH (3)`),
  invalidTenant: new OffloadError(Status.INVALID_ARGUMENT, `offload-tenant must be ${TENANT_NAME_RULE}`),
  /** With --auth-token-file: a call (or a dashboard request) without a token, and one whose token is not in the file. */
  missingCredentials: new OffloadError(Status.UNAUTHENTICATED, 'missing credentials: send "authorization: Bearer TOKEN"'),
  invalidToken: new OffloadError(Status.UNAUTHENTICATED, 'invalid bearer token'),
  invalidJobId: new OffloadError(Status.INVALID_ARGUMENT, 'job_id must be 1 to 128 characters of A-Z, a-z, 0-9, ".", "_", "~" or "-"'),
  itemUndecodable: (reason: string) => new OffloadError(Status.INVALID_ARGUMENT, `the item could not be decoded: ${reason}`),
  valueWithoutKind: (path: string) => new OffloadError(Status.INVALID_ARGUMENT, `${path} has no value (a google.protobuf.Value with no kind set)`),
  /** The input does not match the task's schema; `problem` names the field (input-validator.ts). */
  invalidInput: (problem: string) => new OffloadError(Status.INVALID_ARGUMENT, problem),
  /**
   * The CLI gave up waiting. Its calls are aborted only by its own timers, so
   * an abort there is a deadline; the library client's abort comes from its
   * caller's signal, and is callCancelled.
   */
  noAnswerInTime: new OffloadError(Status.DEADLINE_EXCEEDED, 'no answer in time'),
  /** The client's own, never on the wire: a watch re-attached after a dropped stream and the job was no longer there. */
  jobLost: (id: string) =>
    new OffloadError(Status.NOT_FOUND, `job "${id}" is gone: its replica restarted or was lost, or its retention ended, while it was being watched; submit it again with the same id`),
  /** The client's own: a Watch stream ended without the job's outcome (a proxy closed it, say); the watch re-attaches. */
  watchEndedEarly: (id: string) => new OffloadError(Status.UNAVAILABLE, `the watch of job "${id}" ended before the job's outcome`),
  /** The client's own: an answer this client cannot read, such as a job state newer than it. */
  unreadableAnswer: (what: string) => new OffloadError(Status.INTERNAL, `the server answered with ${what}, which this client cannot read; is the client older than the server?`),
} as const;

/** A canonical status name (as a task's TaskError gives it) to its code, or undefined. */
export function statusFromName(name: string | undefined): Status | undefined {
  if (name === undefined || name === 'OK') return undefined;
  const code = (Status as unknown as Record<string, unknown>)[name];
  return typeof code === 'number' ? code : undefined;
}
