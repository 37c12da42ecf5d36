/**
 * Ctrl-C during a streaming command: the first SIGINT aborts the command's
 * calls (through `signal`) instead of killing the process, so the command
 * can say what happened (cancelled, or detached from a job) and exit 130.
 */
export const INTERRUPTED = 130;

export interface Interrupt {
  readonly signal: AbortSignal;
  readonly interrupted: boolean;
  /** Gives SIGINT back to Node's default. */
  dispose(): void;
}

export function catchInterrupt(): Interrupt {
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.on('SIGINT', onSigint);
  return {
    signal: controller.signal,
    get interrupted() {
      return controller.signal.aborted;
    },
    dispose: () => process.off('SIGINT', onSigint),
  };
}
