import { describe, expect, it } from 'vitest';
import { pickReplica } from '../../src/client/pick-replica.js';

const ids = Array.from({ length: 3000 }, (_, i) => `job-${i}`);
const three = ['10.0.0.1:50051', '10.0.0.2:50051', '10.0.0.3:50051'];

function placement(replicas: string[]): Map<string, string> {
  return new Map(ids.map((id) => [id, pickReplica(id, replicas)]));
}

describe('pickReplica', () => {
  it('picks the same replica for an id whatever the order of the list', () => {
    const forward = placement(three);
    expect(placement([...three].reverse())).toEqual(forward);
    expect(placement([three[1]!, three[2]!, three[0]!])).toEqual(forward);
  });

  it('spreads ids evenly across replicas', () => {
    const counts = new Map<string, number>();
    for (const replica of placement(three).values()) counts.set(replica, (counts.get(replica) ?? 0) + 1);
    expect([...counts.keys()].sort()).toEqual(three);
    // 1000 each on average; a fair hash stays well within ±15%.
    for (const count of counts.values()) {
      expect(count).toBeGreaterThan(850);
      expect(count).toBeLessThan(1150);
    }
  });

  it('moves only the ids of a removed replica, and onto a new replica only ids from the others', () => {
    const before = placement(three);
    const without = placement(three.slice(0, 2));
    for (const [id, replica] of before) if (replica !== three[2]) expect(without.get(id)).toBe(replica);
    const grown = placement([...three, '10.0.0.4:50051']);
    const moved = ids.filter((id) => grown.get(id) !== before.get(id));
    expect(moved.every((id) => grown.get(id) === '10.0.0.4:50051')).toBe(true);
    expect(moved.length).toBeGreaterThan(600); // about a quarter of 3000
    expect(moved.length).toBeLessThan(900);
  });

  it('needs at least one replica', () => {
    expect(() => pickReplica('job-1', [])).toThrow(RangeError);
  });
});
