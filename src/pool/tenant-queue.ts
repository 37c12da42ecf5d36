/**
 * One priority level's waiting jobs, shared fairly among tenants by deficit
 * round robin (Shreedhar and Varghese, 1995), each tenant's jobs first in,
 * first out. On its turn a tenant's deficit grows by the quantum times its
 * weight, and it starts jobs while their expected run time fits in it; the
 * turn then passes. With the quantum at least the longest expected run time,
 * every tenant with work starts at least one job per round: a tenant with
 * one job waiting waits for about one quantum of each other busy tenant's
 * work, however many jobs they queued, and over many rounds busy tenants
 * get worker time in proportion to their weights.
 */
import type { Job } from './job.js';
import type { RunQueue } from './run-queue.js';

/** What the policy charges and grants. */
export interface Shares {
  /** What starting `job` costs its tenant: its expected run time, or 1 to share by count. */
  cost(job: Job): number;
  /** Added to a tenant's deficit on each turn, times its weight; never less than any cost. */
  quantum(): number;
  /** A tenant's weight, 1 or more. */
  weight(tenant: string): number;
}

/** Sharing by count: each tenant starts one job per turn (per unit of weight). */
export const BY_COUNT: Shares = { cost: () => 1, quantum: () => 1, weight: () => 1 };

interface Line {
  readonly tenant: string;
  readonly jobs: Job[];
  deficit: number;
  /** Its turn has begun: the quantum is added once per turn. */
  inTurn: boolean;
}

export class TenantQueue implements RunQueue<Job> {
  readonly #shares: Shares;
  /** Jobs that go before any tenant's turn: taken back from a worker, their tenant already charged. */
  readonly #front: Job[] = [];
  /** The tenants with jobs waiting, in turn order. */
  readonly #ring: Line[] = [];
  readonly #lines = new Map<string, Line>();
  /** Index in #ring of the tenant whose turn it is. */
  #turn = 0;
  #size = 0;

  constructor(shares: Shares = BY_COUNT) {
    this.#shares = shares;
  }

  get size(): number {
    return this.#size;
  }

  push(job: Job): void {
    this.#line(job.request.tenant).jobs.push(job);
    this.#size++;
  }

  pushFront(job: Job): void {
    this.#front.unshift(job);
    this.#size++;
  }

  /** Places `job` among its tenant's jobs in admission order: a job that rose to this level by waiting long. */
  insert(job: Job): void {
    const { jobs } = this.#line(job.request.tenant);
    const after = jobs.findIndex((other) => other.submittedAt > job.submittedAt || (other.submittedAt === job.submittedAt && other.id > job.id));
    jobs.splice(after === -1 ? jobs.length : after, 0, job);
    this.#size++;
  }

  shift(): Job | undefined {
    const first = this.#front.shift();
    if (first) {
      this.#size--;
      return first;
    }
    // Ends within one round: a fresh turn's deficit covers any job (quantum >= cost, weight >= 1).
    while (this.#ring.length > 0) {
      const line = this.#ring[this.#turn]!;
      const job = line.jobs[0];
      if (!job) {
        this.#leave(line);
        continue;
      }
      if (!line.inTurn) {
        line.deficit += this.#shares.quantum() * this.#shares.weight(line.tenant);
        line.inTurn = true;
      }
      const cost = this.#shares.cost(job);
      if (cost <= line.deficit) {
        line.deficit -= cost;
        line.jobs.shift();
        this.#size--;
        return job;
      }
      line.inTurn = false;
      this.#turn = (this.#turn + 1) % this.#ring.length;
    }
    return undefined;
  }

  remove(job: Job): boolean {
    const front = this.#front.indexOf(job);
    if (front !== -1) {
      this.#front.splice(front, 1);
      this.#size--;
      return true;
    }
    const line = this.#lines.get(job.request.tenant);
    const index = line ? line.jobs.indexOf(job) : -1;
    if (!line || index === -1) return false;
    line.jobs.splice(index, 1);
    this.#size--;
    return true;
  }

  /**
   * Takes out the jobs admitted at or before `cutoff`: those taken back, and
   * each tenant's oldest. Reads only the head of each tenant's line, which
   * is in admission order when jobs come in by push (as they do at the lowest level).
   */
  takeAdmittedBy(cutoff: number): { front: Job[]; lined: Job[] } {
    const old = (job: Job): boolean => job.submittedAt <= cutoff;
    const front = this.#front.filter(old);
    for (const job of front) this.remove(job);
    const lined: Job[] = [];
    for (const line of this.#ring) {
      let count = 0;
      while (count < line.jobs.length && old(line.jobs[count]!)) count++;
      if (count === 0) continue;
      lined.push(...line.jobs.splice(0, count));
      this.#size -= count;
    }
    return { front, lined };
  }

  *[Symbol.iterator](): Iterator<Job> {
    yield* this.#front;
    for (const line of this.#ring) yield* line.jobs;
  }

  /**
   * The tenant's line. A tenant not in the round joins at its end, just
   * before the tenant whose turn it is. One whose line emptied stays in the
   * round until its turn comes round with nothing waiting: a tenant whose
   * jobs are started as fast as it sends them keeps its place and its turn.
   */
  #line(tenant: string): Line {
    let line = this.#lines.get(tenant);
    if (!line) {
      line = { tenant, jobs: [], deficit: 0, inTurn: false };
      this.#lines.set(tenant, line);
      this.#ring.splice(this.#turn, 0, line);
      if (this.#ring.length > 1) this.#turn++;
    }
    return line;
  }

  /** Its turn came with nothing waiting: it leaves the round, and its deficit with it (credit is not saved up while idle). */
  #leave(line: Line): void {
    this.#ring.splice(this.#turn, 1);
    if (this.#turn >= this.#ring.length) this.#turn = 0;
    this.#lines.delete(line.tenant);
  }
}
