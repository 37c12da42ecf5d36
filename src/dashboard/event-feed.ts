/**
 * The dashboard's live feed as server-sent events. One timer runs while at
 * least one page listens, and each tick builds one message for all of them;
 * with nobody listening nothing is built at all. A page whose connection
 * cannot keep up is skipped until its socket drains: it gets a later
 * snapshot instead of a backlog, so a slow browser costs the loop nothing.
 */
import type { ServerResponse } from 'node:http';

export interface EventFeed {
  add(response: ServerResponse): void;
  /** Pages listening now. */
  readonly size: number;
  close(): void;
}

export function createEventFeed(build: () => string, intervalMs: number): EventFeed {
  const listeners = new Set<ServerResponse>();
  let timer: NodeJS.Timeout | undefined;
  const send = (to: Iterable<ServerResponse>): void => {
    const message = `data: ${build()}\n\n`;
    for (const response of to) if (!response.writableNeedDrain) response.write(message);
  };
  const stop = (): void => {
    clearInterval(timer);
    timer = undefined;
  };
  return {
    add(response) {
      response.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        // A proxy in front (nginx) must pass each event on at once.
        'x-accel-buffering': 'no',
      });
      response.write('retry: 2000\n\n');
      listeners.add(response);
      response.on('close', () => {
        listeners.delete(response);
        if (listeners.size === 0) stop();
      });
      send([response]);
      timer ??= setInterval(() => send(listeners), intervalMs).unref();
    },
    get size() {
      return listeners.size;
    },
    close() {
      stop();
      for (const response of listeners) response.end();
      listeners.clear();
    },
  };
}
