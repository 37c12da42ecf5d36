/**
 * Which replica holds a job: rendezvous (highest random weight) hashing of
 * the job id against each replica's address. Every client with the same
 * addresses, in any order, picks the same replica for an id; removing an
 * address moves only the jobs that were on it, and adding one takes about
 * 1/n of the ids, from every other replica alike.
 */
import { createHash } from 'node:crypto';

export function pickReplica(jobId: string, replicas: readonly string[]): string {
  let best: string | undefined;
  let bestScore = -1n;
  for (const replica of replicas) {
    const score = createHash('sha256').update(jobId).update('\0').update(replica).digest().readBigUInt64BE(0);
    // Ties (vanishingly rare) go to the smaller address, so the order of the list never matters.
    if (score > bestScore || (score === bestScore && best !== undefined && replica < best)) {
      best = replica;
      bestScore = score;
    }
  }
  if (best === undefined) throw new RangeError('pickReplica needs at least one replica');
  return best;
}
