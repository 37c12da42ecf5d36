import { ClientError } from 'nice-grpc';
import { Errors, OffloadError } from '../errors.js';

/** ClientError keeps its status; the caller's own abort becomes CANCELLED. */
export function toOffloadError(error: unknown): OffloadError {
  if (error instanceof ClientError) return new OffloadError(error.code, error.details);
  if (error instanceof Error && error.name === 'AbortError') return Errors.callCancelled;
  return OffloadError.from(error);
}
