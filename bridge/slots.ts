/**
 * The shared slot protocol: how the loop side and a worker agree, without a
 * message, on who owns a run that was handed to piscina.
 *
 * One slot per hand-over. `state[slot]` is a SlotState; only one side wins
 * the race for a pending slot (Atomics.compareExchange), so a run is either
 * started by its worker or taken back by the loop side, never both.
 * `startedAt[slot]` holds when the run began, in microseconds since the epoch
 * (0: not yet); `thread[slot]` the threadId of the worker that took it, so
 * the loop side can terminate exactly that worker.
 */

export interface SharedSlots {
  state: Int32Array;
  startedAt: BigInt64Array;
  thread: Int32Array;
}

/** The life of a slot: PENDING, then STARTED by a worker or REVOKED/CANCELLED by the loop side; a started run may be CANCELLED too. */
export const SlotState = {
  /** Handed to piscina; no worker has started it. */
  PENDING: 0,
  /** A worker claimed it and runs it. */
  STARTED: 1,
  /** Cancelled: a started run sees it through its signal, a pending one is skipped. */
  CANCELLED: 2,
  /** Taken back to run on another worker: skipped where it was sent. */
  REVOKED: 3,
  /**
   * The run ended, and its reply waits for the other runs sent with it. If
   * the worker dies first the reply is lost with it, and the run goes again.
   */
  DONE: 4,
} as const;

export type TakeBackState = typeof SlotState.CANCELLED | typeof SlotState.REVOKED;

/** Now, as the slots store it: microseconds since the epoch. */
export function nowMicros(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));
}

// ---- the worker's side ---------------------------------------------------------------

/**
 * A worker claims the run in `slot` before starting it: false when the loop
 * side took it back first (cancelled, or moved to an idle worker).
 */
export function claimSlot(slots: SharedSlots, slot: number, thread: number): boolean {
  Atomics.store(slots.thread, slot, thread);
  if (Atomics.compareExchange(slots.state, slot, SlotState.PENDING, SlotState.STARTED) !== SlotState.PENDING) return false;
  Atomics.store(slots.startedAt, slot, nowMicros());
  return true;
}

/** A run sent with others ended: its reply is held until theirs are ready (a started run only; a cancelled one stays CANCELLED). */
export function finishSlot(slots: SharedSlots, slot: number): void {
  Atomics.compareExchange(slots.state, slot, SlotState.STARTED, SlotState.DONE);
}

/** One atomic load: whether the loop side cancelled the run in `slot`. */
export function isCancelled(states: Int32Array, slot: number): boolean {
  return Atomics.load(states, slot) === SlotState.CANCELLED;
}

// ---- the loop side's ------------------------------------------------------------------

/**
 * The loop side's view of the slots: which are free, and the reads and
 * writes it makes on a slot it handed over.
 */
export class SlotTable {
  readonly shared: SharedSlots;
  readonly #free: number[];

  constructor(count: number) {
    this.shared = {
      state: new Int32Array(new SharedArrayBuffer(4 * count)),
      startedAt: new BigInt64Array(new SharedArrayBuffer(8 * count)),
      thread: new Int32Array(new SharedArrayBuffer(4 * count)),
    };
    this.#free = Array.from({ length: count }, (_, i) => count - 1 - i);
  }

  get free(): number {
    return this.#free.length;
  }

  /** A free slot, reset to PENDING for a hand-over; undefined when none is free. */
  claim(): number | undefined {
    const slot = this.#free.pop();
    if (slot === undefined) return undefined;
    Atomics.store(this.shared.state, slot, SlotState.PENDING);
    Atomics.store(this.shared.startedAt, slot, 0n);
    return slot;
  }

  /** piscina answered for the hand-over in `slot`: it may be used again. */
  release(slot: number): void {
    this.#free.push(slot);
  }

  /** Takes a pending hand-over back; false when its worker started it first. */
  takeBack(slot: number, as: TakeBackState): boolean {
    return Atomics.compareExchange(this.shared.state, slot, SlotState.PENDING, as) === SlotState.PENDING;
  }

  /** Marks a started run cancelled: its signal reads the state on every check. */
  cancel(slot: number): void {
    Atomics.store(this.shared.state, slot, SlotState.CANCELLED);
  }

  /** Whether no worker has claimed the hand-over in `slot`. */
  pending(slot: number): boolean {
    return Atomics.load(this.shared.state, slot) === SlotState.PENDING;
  }

  /** Whether the run in `slot` ended and its reply was held with its bundle's. */
  done(slot: number): boolean {
    return Atomics.load(this.shared.state, slot) === SlotState.DONE;
  }

  /** When the run in `slot` began (ms since the epoch), or undefined before it did. */
  startedAt(slot: number): number | undefined {
    const micros = Atomics.load(this.shared.startedAt, slot);
    return micros === 0n ? undefined : Number(micros) / 1000;
  }

  /** The threadId of the worker that took the hand-over in `slot`. */
  thread(slot: number): number {
    return Atomics.load(this.shared.thread, slot);
  }
}
