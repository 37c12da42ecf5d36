import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createEventFeed } from '../../src/dashboard/event-feed.js';

/** A response that records what was written, and can say its socket is full. */
function fakeResponse(): ServerResponse & { written: string[]; writableNeedDrain: boolean } {
  const response = Object.assign(new EventEmitter(), {
    written: [] as string[],
    writableNeedDrain: false,
    writeHead: () => response,
    write: (chunk: string) => (response.written.push(chunk), true),
    end: () => response.emit('close'),
  });
  return response as unknown as ServerResponse & { written: string[]; writableNeedDrain: boolean };
}

describe('the dashboard feed', () => {
  afterEach(() => void vi.useRealTimers());

  it('builds one message a tick for every listener, and none while nobody listens', () => {
    vi.useFakeTimers();
    const build = vi.fn(() => '{}');
    const feed = createEventFeed(build, 250);
    vi.advanceTimersByTime(1000);
    expect(build).not.toHaveBeenCalled();
    const [a, b] = [fakeResponse(), fakeResponse()];
    feed.add(a);
    feed.add(b);
    expect(build).toHaveBeenCalledTimes(2); // each newcomer gets the present at once
    vi.advanceTimersByTime(1000);
    expect(build).toHaveBeenCalledTimes(6);
    expect(a.written.filter((chunk) => chunk.startsWith('data: '))).toHaveLength(5);
    a.emit('close');
    b.emit('close');
    vi.advanceTimersByTime(1000);
    expect(build).toHaveBeenCalledTimes(6);
    expect(feed.size).toBe(0);
  });

  it('skips a listener whose socket is full instead of queueing snapshots for it', () => {
    vi.useFakeTimers();
    const feed = createEventFeed(() => '{}', 250);
    const [slow, fast] = [fakeResponse(), fakeResponse()];
    feed.add(slow);
    feed.add(fast);
    slow.writableNeedDrain = true;
    vi.advanceTimersByTime(1000);
    expect(slow.written.filter((chunk) => chunk.startsWith('data: '))).toHaveLength(1);
    expect(fast.written.filter((chunk) => chunk.startsWith('data: '))).toHaveLength(5);
    slow.writableNeedDrain = false;
    vi.advanceTimersByTime(250);
    expect(slow.written.filter((chunk) => chunk.startsWith('data: '))).toHaveLength(2);
    feed.close();
    expect(feed.size).toBe(0);
  });
});
