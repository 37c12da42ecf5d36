/**
 * Jobs that outlive their call, by tenant and id: the pool's job record plus what
 * Submit needs to answer a repeated submit (a fingerprint of the request)
 * and what retention needs (when it was admitted and when it ended).
 * Finished jobs are kept for `retentionMs`, at most `maxJobs` of them and
 * `maxBytes` of their results; past those the oldest finished go first,
 * never a queued or running one. Each tenant has its own ids: a job is
 * found only by calls of the tenant that submitted it, and another tenant
 * choosing the same id gets a job of its own, so ids reveal nothing across tenants.
 */
import { randomUUID } from 'node:crypto';
import { Errors } from '../errors.js';
import type { Lease } from './lease.js';
import { requestDigest } from './cache-key.js';
import { DEFAULT_TENANT } from '../tenant-name.js';

const ID = /^[A-Za-z0-9._~-]{1,128}$/;

/** A job's state as the metrics name it: a job handed to a worker but not yet started is still queued. */
export type JobStateName = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface StoredJob {
  readonly id: string;
  /** Whose it is: only that tenant's calls find it. */
  readonly tenant: string;
  /** The job as this submit holds it (it may share the run with identical requests). */
  readonly lease: Lease;
  readonly fingerprint: string;
  /** ms since the epoch. */
  readonly createdAt: number;
  endedAt: number | undefined;
  /** Bytes its outcome holds (output and data), counted once it ended. */
  bytes: number;
}

export interface JobStoreOptions {
  retentionMs: number;
  maxJobs: number;
  maxBytes: number;
  now?: () => number;
}

export class JobStore {
  readonly #jobs = new Map<string, StoredJob>();
  /** Ended jobs, oldest end first: the order retention drops them in. */
  readonly #ended = new Set<StoredJob>();
  #bytes = 0;
  readonly #options: JobStoreOptions;
  readonly #now: () => number;

  constructor(options: JobStoreOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** A client's id checked, or a new one when it gave none. */
  static id(given: string): string {
    if (given === '') return randomUUID();
    if (!ID.test(given)) throw Errors.invalidJobId;
    return given;
  }

  /** Where a tenant's job is kept: tenant names and job ids cannot hold "/", so the key is unambiguous. */
  static key(tenant: string, id: string): string {
    return `${tenant}/${id}`;
  }

  /** What identifies a request: a repeated submit must match it exactly. */
  static fingerprint(task: string, input: unknown, data: Uint8Array): Promise<string> {
    return requestDigest([task], input, data);
  }

  get(id: string, tenant = DEFAULT_TENANT): StoredJob | undefined {
    this.#expire();
    return this.#jobs.get(JobStore.key(tenant, id));
  }

  /** Looks the id up for a call about it: NOT_FOUND when it is unknown, expired, or another tenant's. */
  require(id: string, tenant = DEFAULT_TENANT): StoredJob {
    const stored = this.get(id, tenant);
    if (!stored) throw Errors.unknownJob(id);
    return stored;
  }

  add(id: string, lease: Lease, fingerprint: string, tenant = DEFAULT_TENANT): StoredJob {
    const stored: StoredJob = { id, tenant, lease, fingerprint, createdAt: this.#now(), endedAt: undefined, bytes: 0 };
    this.#jobs.set(JobStore.key(tenant, id), stored);
    return stored;
  }

  /** The job ended: it now counts against retention. */
  ended(stored: StoredJob, bytes: number): void {
    stored.endedAt = this.#now();
    stored.bytes = bytes;
    this.#bytes += bytes;
    this.#ended.add(stored);
    this.#expire();
  }

  get size(): number {
    return this.#jobs.size;
  }

  /** Retained jobs by state; read on each metrics scrape, not kept up to date on every change. */
  countByState(): Record<JobStateName, number> {
    this.#expire();
    const counts: Record<JobStateName, number> = { queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
    for (const { lease } of this.#jobs.values()) {
      const state = lease.state;
      counts[state === 'sent' ? 'queued' : state]++;
    }
    return counts;
  }

  #expire(): void {
    const now = this.#now();
    const { retentionMs, maxJobs, maxBytes } = this.#options;
    for (const stored of this.#ended) {
      const tooOld = now - stored.endedAt! >= retentionMs;
      if (!tooOld && this.#jobs.size <= maxJobs && this.#bytes <= maxBytes) break;
      this.#ended.delete(stored);
      this.#jobs.delete(JobStore.key(stored.tenant, stored.id));
      this.#bytes -= stored.bytes;
    }
  }
}
