/**
 * The job RPCs: Submit admits a job that outlives its call, Watch follows one
 * (leaving cancels nothing), GetJob reads one, CancelJob stops one.
 */
import type { CallContext } from 'nice-grpc';
import { Errors, OffloadError } from '../errors.js';
import {
  JobState,
  type CancelJobRequest,
  type CancelJobResponse,
  type GetJobRequest,
  type GetJobResponse,
  type Job as JobMessage,
  type Progress,
  type SubmitRequest,
  type SubmitResponse,
  type WatchRequest,
  type WatchResponse,
} from '../gen/offload/v1/compute.js';
import type { Job, JobState as PoolJobState } from '../pool/job.js';
import type { RecordContext } from './call-record.js';
import { JobStore, type StoredJob } from './job-store.js';
import { toEventFields, toTaskResult } from './to-wire.js';
import { withHeartbeat } from './with-heartbeat.js';

type Context = CallContext & RecordContext;

export interface JobServiceDeps {
  store: JobStore;
  /** Validates and admits one job, as for Run but tied to no call. */
  admit: (request: { task: string; input: unknown; data: Uint8Array }) => Job;
  heartbeatMs: number;
  /** Counts a submitted job as work in flight for the drain until the release is called. */
  hold: () => () => void;
}

const STATES: Record<PoolJobState, JobState> = {
  queued: JobState.JOB_STATE_QUEUED,
  sent: JobState.JOB_STATE_QUEUED,
  running: JobState.JOB_STATE_RUNNING,
  succeeded: JobState.JOB_STATE_SUCCEEDED,
  failed: JobState.JOB_STATE_FAILED,
  cancelled: JobState.JOB_STATE_CANCELLED,
};

export function createJobService(deps: JobServiceDeps) {
  const { store } = deps;
  return {
    async submit(request: SubmitRequest, context: Context): Promise<SubmitResponse> {
      const id = JobStore.id(request.jobId);
      context.record.task = request.task;
      // Hashed before admission: the data is handed over to the worker then.
      const fingerprint = await JobStore.fingerprint(request.task, request.input, request.data);
      // Looked up after the await: a twin submit may have added the id meanwhile.
      const existing = store.get(id);
      if (existing) {
        if (existing.fingerprint !== fingerprint) throw Errors.jobExists(id);
        return { job: toJobMessage(existing), created: false };
      }
      const stored = store.add(id, deps.admit(request), fingerprint);
      const release = deps.hold();
      // Not awaited: the job's end is when retention starts counting; result() never rejects past the catch.
      // The size is the worker's measure of the output: no serialising it again on the event loop.
      void stored.job
        .follow()
        .result()
        .then(
          (result) => store.ended(stored, (result.data?.byteLength ?? 0) + result.outputBytes),
          () => store.ended(stored, 0),
        )
        .finally(release);
      return { job: toJobMessage(stored), created: true };
    },

    async *watch(request: WatchRequest, context: Context): AsyncIterable<WatchResponse> {
      const stored = store.require(request.jobId);
      context.record.task = stored.job.request.task;
      let latest: Progress = { fraction: 0, message: '' };
      const events = withHeartbeat(stored.job.follow(), deps.heartbeatMs, () => ({ type: 'progress' as const, ...latest }));
      try {
        for await (const event of events) {
          if (event.type === 'progress') latest = { fraction: event.fraction, message: event.message };
          yield toEventFields(event);
        }
      } catch (thrown) {
        const error = OffloadError.from(thrown);
        yield { failure: { code: error.code, message: error.wireMessage } };
      }
    },

    async getJob(request: GetJobRequest): Promise<GetJobResponse> {
      return { job: toJobMessage(store.require(request.jobId)) };
    },

    async cancelJob(request: CancelJobRequest): Promise<CancelJobResponse> {
      const stored = store.require(request.jobId);
      stored.job.cancel(Errors.callCancelled);
      return { job: toJobMessage(stored) };
    },
  };
}

function toJobMessage(stored: StoredJob): JobMessage {
  const { job } = stored;
  const outcome = job.outcome;
  return {
    id: stored.id,
    task: job.request.task,
    state: STATES[job.state],
    progress: job.latestProgress,
    result: outcome && 'result' in outcome ? toTaskResult(outcome.result) : undefined,
    failure: outcome && 'error' in outcome ? { code: outcome.error.code, message: outcome.error.wireMessage } : undefined,
    createdAt: new Date(stored.createdAt),
  };
}
