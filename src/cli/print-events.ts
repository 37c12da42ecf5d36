/**
 * How `run` and `watch` show a task's events: on a terminal, a live progress
 * bar on stderr and then the output on stdout; otherwise (or with --json) one
 * JSON event per line on stdout. A result's bytes go to --out when given.
 */
import { writeFileSync } from 'node:fs';
import type { RunEvent } from '../client/events.js';
import { createProgressBar } from './progress-bar.js';

export interface EventPrinter {
  print(event: RunEvent): void;
  /** Clears the bar when the events end without a result. */
  stop(): void;
}

export function createEventPrinter({ label, jsonLines, out }: { label: string; jsonLines: boolean; out: string | undefined }): EventPrinter {
  const bar = jsonLines ? undefined : createProgressBar(process.stderr, label);
  return {
    print(event) {
      if (event.type === 'result' && out !== undefined) writeFileSync(out, event.data);
      if (!bar) process.stdout.write(`${JSON.stringify(toJsonEvent(event, out !== undefined))}\n`);
      else if (event.type === 'started') bar.update(0, 'started');
      else if (event.type === 'progress') bar.update(event.fraction, event.message);
      else {
        bar.done();
        process.stdout.write(`${JSON.stringify(event.output, null, 2)}\n`);
        const bytes = event.data.byteLength > 0 && out === undefined ? `, ${event.data.byteLength} bytes of data (use --out to keep them)` : '';
        // A cached result's timings are those of the run that produced it.
        const how = event.cached ? ' (cached)' : '';
        process.stderr.write(`done in ${event.runMs.toFixed(1)} ms (queued ${event.queuedMs.toFixed(1)} ms)${how}${bytes}\n`);
      }
    },
    stop: () => bar?.done(),
  };
}

/** A result's bytes as their count, and as base64 unless they went to a file. */
export function toJsonEvent(event: RunEvent, dataWritten: boolean): Record<string, unknown> {
  if (event.type !== 'result') return event;
  const { data, ...rest } = event;
  return { ...rest, dataBytes: data.byteLength, ...(data.byteLength > 0 && !dataWritten ? { data: Buffer.from(data).toString('base64') } : {}) };
}
