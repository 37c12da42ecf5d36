/**
 * The job RPCs: Submit admits a job that outlives its call, Watch follows one
 * (leaving cancels nothing), GetJob reads one, CancelJob stops one.
 */
import type { LinkedSpan } from '../telemetry/call-spans.js';
import type { CallContext } from 'nice-grpc';
import { Errors, OffloadError } from '../errors.js';
import {
  JobState,
  type Priority as JobPriority,
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
import type { JobState as PoolJobState } from '../pool/job.js';
import type { Lease } from './lease.js';
import type { RecordContext } from './call-record.js';
import { JobStore, type StoredJob } from './job-store.js';
import { toEventFields, toTaskResult } from './to-wire.js';
import { withHeartbeat } from './with-heartbeat.js';
import { DEFAULT_TENANT } from '../tenant-name.js';

type Context = CallContext & RecordContext;

export interface JobServiceDeps {
  store: JobStore;
  /** Validates and admits one job, as for Run but tied to no call (a lease without a holder). */
  admit: (request: { task: string; input: unknown; data: Uint8Array; noCache: boolean; priority: JobPriority; jobId: string }, tenant: string, linked?: LinkedSpan) => Lease | Promise<Lease>;
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
  /** Submits still being admitted (a cacheable task's data is hashed first), by tenant and id: a twin waits for it. */
  const admitting = new Map<string, Promise<StoredJob>>();
  return {
    async submit(request: SubmitRequest, context: Context): Promise<SubmitResponse> {
      const id = JobStore.id(request.jobId);
      const tenant = context.record.tenant ?? DEFAULT_TENANT;
      const admittingKey = JobStore.key(tenant, id);
      context.record.task = request.task;
      // Hashed before admission: the data is handed over to the worker then.
      const fingerprint = await JobStore.fingerprint(request.task, request.input, request.data);
      // Looked up after the await: a twin submit may have added the id, or be admitting it, meanwhile.
      for (;;) {
        const existing = store.get(id, tenant);
        if (existing) {
          if (existing.fingerprint !== fingerprint) throw Errors.jobExists(id);
          return { job: toJobMessage(existing), created: false };
        }
        const twin = admitting.get(admittingKey);
        if (!twin) break;
        await twin.catch(() => {});
      }
      const admitted = Promise.resolve()
        // With tracing on, the job's run gets a trace of its own, linked to this Submit's: it outlives the call.
        .then(() => deps.admit({ ...request, jobId: id }, tenant, { trace: context.record.trace, name: 'job', attributes: { 'offload.job': id, 'offload.task': request.task } }))
        .then((lease) => store.add(id, lease, fingerprint, tenant));
      admitting.set(admittingKey, admitted);
      const stored = await admitted.finally(() => admitting.delete(admittingKey));
      const release = deps.hold();
      // Not awaited: the job's end is when retention starts counting; endOf never rejects.
      void endOf(stored.lease)
        .then((bytes) => store.ended(stored, bytes))
        .finally(release);
      return { job: toJobMessage(stored), created: true };
    },

    async *watch(request: WatchRequest, context: Context): AsyncIterable<WatchResponse> {
      const { lease } = store.require(request.jobId, context.record.tenant);
      context.record.task = lease.task;
      let latest: Progress = { fraction: 0, message: '' };
      const events = withHeartbeat(lease.follow(), deps.heartbeatMs, () => ({ type: 'progress' as const, ...latest }));
      try {
        for await (const event of events) {
          if (event.type === 'progress') latest = { fraction: event.fraction, message: event.message };
          yield toEventFields(event, lease.cached);
        }
      } catch (thrown) {
        const error = OffloadError.from(thrown);
        yield { failure: { code: error.code, message: error.wireMessage } };
      }
    },

    async getJob(request: GetJobRequest, context: Context): Promise<GetJobResponse> {
      return { job: toJobMessage(store.require(request.jobId, context.record.tenant)) };
    },

    async cancelJob(request: CancelJobRequest, context: Context): Promise<CancelJobResponse> {
      const stored = store.require(request.jobId, context.record.tenant);
      // The job stops unless an identical request still holds it; this one is cancelled either way.
      stored.lease.release(Errors.callCancelled);
      return { job: toJobMessage(stored) };
    },
  };
}

function toJobMessage(stored: StoredJob): JobMessage {
  const { lease } = stored;
  const outcome = lease.outcome;
  return {
    id: stored.id,
    task: lease.task,
    state: STATES[lease.state],
    progress: lease.latestProgress,
    result: outcome && 'result' in outcome ? toTaskResult(outcome.result, lease.cached) : undefined,
    failure: outcome && 'error' in outcome ? { code: outcome.error.code, message: outcome.error.wireMessage } : undefined,
    createdAt: new Date(stored.createdAt),
  };
}

/** Resolves when the lease's job ended (for it), with the bytes its result holds: the worker's measure, not a serialisation on the event loop. */
function endOf(lease: Lease): Promise<number> {
  return lease.awaitResult().then(
    (result) => (result.data?.byteLength ?? 0) + result.outputBytes,
    // A failed or cancelled job holds no result.
    () => 0,
  );
}
