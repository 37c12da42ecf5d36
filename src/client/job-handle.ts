/**
 * Jobs from the client: submit one, or re-attach to one by id, and follow,
 * read or cancel it through a handle. Every call names its job in
 * `offload-job-id` metadata, for balancers that hash on it, and goes to the
 * job's replica (job-routes.ts).
 */
import { randomUUID } from 'node:crypto';
import { Metadata } from 'nice-grpc';
import { Errors } from '../errors.js';
import { toBuffer, toWirePriority, type Json, type RunEvent, type RunPriority, type TaskResult } from './events.js';
import type { GrpcClient } from './grpc-client.js';
import { fromJobMessage, type JobInfo } from './job-events.js';
import type { JobRoutes } from './job-routes.js';
import { retryCallOptions, type Retry } from './retry-options.js';
import { toOffloadError } from './to-offload-error.js';
import { watchJob } from './watch-job.js';

export interface JobCallOptions {
  signal?: AbortSignal;
  /** A Date, or ms from now; overrides the client's deadlineMs. Ends the call (or the whole watch), never the job. */
  deadline?: Date | number;
}

export interface SubmitOptions extends JobCallOptions {
  data?: Uint8Array;
  /** 1 to 128 of [A-Za-z0-9._~-]; default a random UUID. Submitting the same id and request again is safe. */
  jobId?: string;
  /** Compute afresh even when the task is cacheable. */
  noCache?: boolean;
  /** Which queued runs start first on the server; default normal. */
  priority?: RunPriority;
}

export interface JobHandle<Output = Json> {
  readonly id: string;
  /** Follows the job: started, progress, then its result; throws its failure. Re-attaches by itself after a dropped stream. */
  watch(options?: JobCallOptions): AsyncIterable<RunEvent<Output>>;
  /** Waits for the job's result (watching it), or throws its failure. */
  result(options?: JobCallOptions): Promise<TaskResult<Output>>;
  /** The job as it is now. */
  get(options?: JobCallOptions): Promise<JobInfo<Output>>;
  /** Asks the job to stop; answers the job as it is after asking. */
  cancel(options?: JobCallOptions): Promise<JobInfo<Output>>;
}

export interface SubmittedJob<Output = Json> extends JobHandle<Output> {
  /** False when the id named a job already there with the same request. */
  readonly created: boolean;
}

export interface JobContext {
  routes: JobRoutes;
  retry: Retry | undefined;
  /** The client's default deadline, in ms from a call's start. */
  deadlineMs: number | undefined;
}

/** What the server accepts as a job id (the header a balancer hashes on must be one too). */
export function isJobId(id: string): boolean {
  return /^[A-Za-z0-9._~-]{1,128}$/.test(id);
}

export async function submitJob<Output>(context: JobContext, task: string, input: Json | undefined, options: SubmitOptions = {}): Promise<SubmittedJob<Output>> {
  // The client always chooses the id, so that Submit is routed like every later call about the job.
  const { handle, route } = openJob<Output>(context, options.jobId ?? randomUUID());
  const grpc = await route();
  try {
    const request = { task, input, data: toBuffer(options.data), jobId: handle.id, noCache: options.noCache ?? false, priority: toWirePriority(options.priority) };
    const { created } = await grpc.submit(request, { ...callOptions(context, handle.id, options), ...retryCallOptions(context.retry) });
    return { ...handle, created };
  } catch (error) {
    throw toOffloadError(error);
  }
}

/** A handle on the job `id`; no call is made until one of its methods is. */
export function createJobHandle<Output>(context: JobContext, id: string): JobHandle<Output> {
  return openJob<Output>(context, id).handle;
}

function openJob<Output>(context: JobContext, id: string): { handle: JobHandle<Output>; route: () => Promise<GrpcClient> } {
  if (!isJobId(id)) throw Errors.invalidJobId;
  // Chosen once per handle: should a dns: name's addresses change meanwhile, the handle keeps to the replica it found.
  let chosen: Promise<GrpcClient> | undefined;
  const route = (): Promise<GrpcClient> => (chosen ??= context.routes.clientFor(id));
  const unary = async (method: 'getJob' | 'cancelJob', options: JobCallOptions = {}): Promise<JobInfo<Output>> => {
    const grpc = await route();
    try {
      const { job } = await grpc[method]({ jobId: id }, { ...callOptions(context, id, options), ...retryCallOptions(context.retry) });
      return fromJobMessage<Output>(job);
    } catch (error) {
      throw toOffloadError(error);
    }
  };
  const watch = (options: JobCallOptions = {}): AsyncIterable<RunEvent<Output>> => {
    const { signal, deadline } = callOptions(context, id, options);
    return watchJob<Output>({
      id,
      retry: context.retry,
      signal,
      // Fixed once: every re-attach shares what is left of it.
      deadline: deadline === undefined ? undefined : deadline instanceof Date ? deadline : new Date(Date.now() + deadline),
      open: async (attempt) => (await route()).watch({ jobId: id }, { ...attempt, metadata: jobMetadata(id) }),
    });
  };
  const handle: JobHandle<Output> = {
    id,
    watch,
    async result(options) {
      for await (const event of watch(options)) if (event.type === 'result') return event;
      throw Errors.watchEndedEarly(id);
    },
    get: (options) => unary('getJob', options),
    cancel: (options) => unary('cancelJob', options),
  };
  return { handle, route };
}

function callOptions(context: JobContext, id: string, { signal, deadline }: JobCallOptions) {
  const effective = deadline ?? context.deadlineMs;
  return { metadata: jobMetadata(id), ...(signal ? { signal } : {}), ...(effective !== undefined ? { deadline: effective } : {}) };
}

function jobMetadata(id: string): Metadata {
  return Metadata({ 'offload-job-id': id });
}
