/**
 * A dashboard page as offload's server sees it (issue 18): one `GET
 * /dashboard/api/events` on the metrics port, read as fast as it arrives
 * for as long as the page stays open, which is all the server does for a
 * browser tab between its first load and its close. The server builds one
 * JSON snapshot every 250 ms while a page listens; this reader counts the
 * events and their bytes and keeps, of each, only the queue length it
 * reported (the one field parsed), so the harness spends next to nothing
 * on it.
 */
import { request } from 'node:http';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';

/** Where offload serves its feed: the path next to `/metrics` on the same port. */
export function feedUrl(metricsUrl: string): string {
  return new URL('/dashboard/api/events', metricsUrl).href;
}

export interface FeedEvent {
  /** performance.now() when the event's last byte arrived */
  at: number;
  /** the event as sent: `data: {json}` and the blank line that ends it */
  bytes: number;
  /** the snapshot's `queue.waiting`: runs queued or sent ahead to a busy worker */
  waiting: number;
}

export interface FeedWindow {
  events: number;
  /** events after the window's first, per second until its last; NaN with fewer than two */
  eventsPerSec: number;
  /** mean over the window's events, 1000 bytes */
  kbPerEvent: number;
  /** the longest time between two events in the window (from its start, to its end) */
  maxGapMs: number;
  /** the median queue length the window's snapshots reported */
  waitingMedian: number;
}

export interface Feed {
  /** What arrived from `from` to `to` (performance.now()). */
  window(from: number, to: number): FeedWindow;
  /** Events received since the feed opened, the first one included. */
  readonly total: number;
  /** Set when the connection failed after it opened; a page that lost its feed measured nothing. */
  readonly error: string | undefined;
  /** Closes the connection, as closing the tab does. */
  close(): void;
}

/**
 * Opens the feed and resolves once its first event has arrived (offload
 * sends one at once), so the page is known to be fed before anything is
 * measured; rejects when the server answers anything but an event stream.
 */
export function openFeed(url: string, timeoutMs: number): Promise<Feed> {
  return new Promise((resolve, reject) => {
    const events: FeedEvent[] = [];
    let error: string | undefined;
    let pending = '';
    let first = true;
    // Set by close(): what the connection does after that is the page going away, not a failure.
    let closing = false;
    const timer = setTimeout(() => fail(new Error(`${url}: no event within ${timeoutMs} ms`)), timeoutMs);
    const feed: Feed = {
      window(from, to) {
        const inside = events.filter((e) => e.at >= from && e.at <= to);
        const times = [from, ...inside.map((e) => e.at), to];
        const waiting = inside.map((e) => e.waiting).sort((a, b) => a - b);
        const span = inside.length > 1 ? inside.at(-1)!.at - inside[0]!.at : Number.NaN;
        return {
          events: inside.length,
          // From the first event in the window to the last: a count over the window would read 19 or 20
          // events in 5 s depending on where the ticks fall.
          eventsPerSec: ((inside.length - 1) / span) * 1000,
          kbPerEvent: inside.length ? inside.reduce((n, e) => n + e.bytes, 0) / inside.length / 1000 : Number.NaN,
          maxGapMs: times.slice(1).reduce((worst, t, i) => Math.max(worst, t - times[i]!), 0),
          waitingMedian: waiting.length ? waiting[Math.floor(waiting.length / 2)]! : Number.NaN,
        };
      },
      get total() {
        return events.length;
      },
      get error() {
        return error;
      },
      close: () => {
        closing = true;
        clearTimeout(timer);
        req.destroy();
      },
    };
    const fail = (reason: Error): void => {
      if (closing) return;
      clearTimeout(timer);
      if (first) {
        first = false;
        req.destroy();
        reject(reason);
      } else error ??= reason.message;
    };
    const onEvent = (block: string, at: number): void => {
      // `retry: 2000` first, then `data: {snapshot}` blocks.
      const data = block.split('\n').filter((line) => line.startsWith('data:')).map((line) => line.slice(5).trimStart()).join('\n');
      if (!data) return;
      let waiting = Number.NaN;
      try {
        const value = (JSON.parse(data) as { queue?: { waiting?: unknown } }).queue?.waiting;
        if (typeof value === 'number') waiting = value;
      } catch {
        error ??= `${url}: an event that is not JSON`;
      }
      events.push({ at, bytes: Buffer.byteLength(block) + 2, waiting });
      if (first) {
        first = false;
        clearTimeout(timer);
        resolve(feed);
      }
    };
    // Its own connection (no agent): the page's, not shared with anything the harness does.
    const req: ClientRequest = request(url, { agent: false, headers: { accept: 'text/event-stream' } }, (response: IncomingMessage) => {
      const type = String(response.headers['content-type'] ?? '');
      if (response.statusCode !== 200 || !type.startsWith('text/event-stream')) {
        response.resume();
        fail(new Error(`${url}: HTTP ${response.statusCode ?? '?'} ${type}, not an event stream`));
        return;
      }
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        const at = performance.now();
        pending += chunk;
        for (let end = pending.indexOf('\n\n'); end >= 0; end = pending.indexOf('\n\n')) {
          onEvent(pending.slice(0, end), at);
          pending = pending.slice(end + 2);
        }
      });
      response.on('error', (e) => fail(e));
      response.on('end', () => fail(new Error(`${url}: the server ended the feed`)));
    });
    req.on('error', (e) => fail(e));
    req.end();
  });
}
