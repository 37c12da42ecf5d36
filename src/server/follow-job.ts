import { Errors } from '../errors.js';
import type { TaskEvent } from '../pool/follower.js';
import type { Job } from '../pool/job.js';

/**
 * A job's events for the call that started it. The call decides what its
 * leaving means: Run, RunStream and RunBatch started the job for their
 * client alone, so a reader that stops early (the client went away, the
 * stream broke) cancels the job rather than leaving it running for no one.
 */
export async function* followJob(job: Job): AsyncGenerator<TaskEvent, void, undefined> {
  try {
    yield* job.follow();
  } finally {
    job.cancel(Errors.callCancelled);
  }
}
