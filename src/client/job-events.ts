/**
 * Jobs as the client shows them: a plain job record instead of the proto's
 * Job, and Watch's events as runStream's, plus the failure Watch reports as
 * a message rather than as a failed stream.
 */
import { Errors, type Status } from '../errors.js';
import { JobState as WireState, type Job, type WatchResponse } from '../gen/offload/v1/compute.js';
import { fromStreamResponse, fromWireResult, type Json, type RunEvent, type TaskResult } from './events.js';

export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface JobFailure {
  code: Status;
  message: string;
}

export interface JobInfo<Output = Json> {
  id: string;
  task: string;
  state: JobState;
  /** Its latest progress, once it reported any. */
  progress?: { fraction: number; message: string };
  /** Once it succeeded. */
  result?: TaskResult<Output>;
  /** Once it failed or was cancelled. */
  failure?: JobFailure;
  createdAt: Date;
}

export type WatchEvent<Output = Json> = RunEvent<Output> | ({ type: 'failure' } & JobFailure);

const STATES: Partial<Record<WireState, JobState>> = {
  [WireState.JOB_STATE_QUEUED]: 'queued',
  [WireState.JOB_STATE_RUNNING]: 'running',
  [WireState.JOB_STATE_SUCCEEDED]: 'succeeded',
  [WireState.JOB_STATE_FAILED]: 'failed',
  [WireState.JOB_STATE_CANCELLED]: 'cancelled',
};

export function fromJobMessage<Output>(job: Job | undefined): JobInfo<Output> {
  if (!job) throw Errors.unreadableAnswer('no job');
  const state = STATES[job.state];
  if (state === undefined) throw Errors.unreadableAnswer(`job state ${job.state}`);
  return {
    id: job.id,
    task: job.task,
    state,
    ...(job.progress ? { progress: { fraction: job.progress.fraction, message: job.progress.message } } : {}),
    ...(job.result ? { result: fromWireResult<Output>(job.result) } : {}),
    ...(job.failure ? { failure: { code: job.failure.code as Status, message: job.failure.message } } : {}),
    createdAt: job.createdAt ?? new Date(0),
  };
}

export function fromWatchResponse<Output>(response: WatchResponse): WatchEvent<Output> | undefined {
  if (response.failure) return { type: 'failure', code: response.failure.code as Status, message: response.failure.message };
  return fromStreamResponse<Output>(response);
}
