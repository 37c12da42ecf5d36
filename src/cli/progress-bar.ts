/**
 * A one-line progress bar redrawn in place on a terminal:
 *   [##########----------]  50%  step 5 of 10  1.2s
 */
export interface ProgressBar {
  update(fraction: number, message: string): void;
  /** Redraws with the elapsed time even when the task says nothing. */
  tick(): void;
  /** Clears the line. */
  done(): void;
}

export function createProgressBar(stream: NodeJS.WriteStream, label: string): ProgressBar {
  const startedAt = Date.now();
  let fraction = 0;
  let message = 'queued';
  const draw = (): void => {
    const width = Math.max(10, Math.min(30, (stream.columns || 80) - 50));
    const filled = Math.round(fraction * width);
    const elapsed = ((Date.now() - startedAt) / 1000).toFixed(1);
    const line = `${label} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(fraction * 100)).padStart(3)}%  ${message}  ${elapsed}s`;
    stream.write(`\r\x1b[2K${line.slice(0, (stream.columns || 120) - 1)}`);
  };
  const timer = setInterval(draw, 100);
  timer.unref();
  draw();
  return {
    update(next, note) {
      fraction = Math.min(1, Math.max(0, next));
      message = note;
      draw();
    },
    tick: draw,
    done() {
      clearInterval(timer);
      stream.write('\r\x1b[2K');
    },
  };
}
