/**
 * offload's one error type. Everything that fails a call passes through
 * `OffloadError.from`, so the client sees an honest status and a message fit
 * to show, and the server keeps the stack for its log.
 */
import { ServerError, Status } from 'nice-grpc';

export { Status };

export class OffloadError extends Error {
  override name = 'OffloadError';
  constructor(
    readonly code: Status,
    message: string,
    /** What the server log gets beyond the message (a stack, say); never sent. */
    readonly detail?: string,
  ) {
    super(message);
  }

  /**
   * Normalises anything thrown. An error we did not make is an unexpected
   * one: the client gets a generic INTERNAL and the log gets the rest.
   */
  static from(error: unknown): OffloadError {
    if (error instanceof OffloadError) return error;
    if (error instanceof ServerError) return new OffloadError(error.code, error.details);
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    return new OffloadError(Status.INTERNAL, 'internal error', detail);
  }

  /** Whether the server should log this failure as its own fault. */
  get isServerFault(): boolean {
    return this.code === Status.INTERNAL || this.code === Status.UNKNOWN || this.code === Status.DATA_LOSS;
  }

  toServerError(): ServerError {
    return new ServerError(this.code, this.message);
  }
}

/** A canonical status name (as a task's TaskError gives it) to its code, or undefined. */
export function statusFromName(name: string | undefined): Status | undefined {
  if (name === undefined || name === 'OK') return undefined;
  const code = (Status as unknown as Record<string, unknown>)[name];
  return typeof code === 'number' ? (code as Status) : undefined;
}
