/**
 * Where a job goes once it leaves the queue: how many hand-overs a worker
 * holds, which jobs may wait on a busy worker (sent ahead), what moves them
 * to an idle one (stealing), and how their bytes travel.
 */
import type { Job } from './job.js';

/**
 * Hand-overs a worker holds at most: the job it runs and the next, so it
 * starts the next the moment it finishes instead of idling while the loop
 * side answers the call and posts another.
 */
export const PER_WORKER = 2;
/** A job sent ahead to a busy worker moves to an idle one after waiting this long. */
export const STEAL_AFTER_MS = 20;
/**
 * Input bytes beyond this are not sent ahead to a busy worker: moving the job
 * again would mean copying them again. Such jobs wait for an idle worker.
 */
export const SEND_AHEAD_MAX_BYTES = 64 * 1024;

/** One hand-over of a job to piscina, holding a slot until piscina answers for it. */
export interface HandOver {
  readonly job: Job;
  readonly slot: number;
  /** Clock time when it was handed over. */
  readonly at: number;
  /** Whether it may wait on a busy worker (and so be moved to an idle one). */
  readonly ahead: boolean;
  /** The piscina task that carries it, and others sent with it: how many of them are still live. */
  readonly task: { live: number };
}

export const mayGoAhead = (job: Job): boolean => job.dataBytes <= SEND_AHEAD_MAX_BYTES;

/**
 * Hand-overs to take back and send again: sent ahead, still not started
 * after STEAL_AFTER_MS, while some worker has finished a job since they were
 * sent and runs nothing now (a worker still starting up is not idle). At
 * most one fewer than the idle workers' count is ever useful, but taking all
 * back is harmless: they go to the front of the queue in their order.
 */
export function stuckHandOvers(live: Iterable<HandOver>, running: number, workers: number, now: number, lastAnsweredAt: number): HandOver[] {
  if (running >= workers) return [];
  const stuck: HandOver[] = [];
  for (const handOver of live) {
    if (handOver.ahead && handOver.at < lastAnsweredAt && now - handOver.at >= STEAL_AFTER_MS && handOver.job.state === 'sent') stuck.push(handOver);
  }
  return stuck;
}

/**
 * The bytes to transfer to the worker. Cloning a view clones its whole
 * backing buffer, and a request's bytes sit inside the decoded message's
 * buffer: so they are copied, unless the caller hands the buffer over and the
 * bytes fill it (a large request, whose message grpc-js assembled in a buffer
 * of its own), in which case the buffer itself moves and nothing is copied.
 * Only a job that is never sent ahead may lose its bytes that way: one sent
 * ahead may have to be sent again.
 */
export function transferable(job: Job, ahead: boolean): Uint8Array | undefined {
  const { data, handOverData } = job.request;
  if (data.byteLength === 0) return undefined;
  const whole = data.buffer;
  if (handOverData && !ahead && whole instanceof ArrayBuffer && data.byteLength >= 0.9 * whole.byteLength) return data;
  return new Uint8Array(data);
}

/** Whether the job's bytes are still here to send again (none moved to a worker that died). */
export const intact = (job: Job): boolean => job.request.data.byteLength === job.dataBytes;
