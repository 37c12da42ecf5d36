/** The job id a job command names, checked here so a mistyped one is a usage error (exit 2), not a failed call. */
import { isJobId } from '../client/job-handle.js';
import { CliError } from './cli-error.js';

export function checkJobId(id: string, what: string): string {
  if (!isJobId(id)) throw new CliError(`${what} must be 1 to 128 characters of A-Z, a-z, 0-9, ".", "_", "~" or "-" (got "${id}")`);
  return id;
}

/** The one positional argument of `offload watch|job|cancel ID`. */
export function jobIdArgument(positionals: string[], command: string): string {
  if (positionals.length !== 1) throw new CliError(`${command} takes one job id; see ${command} --help`);
  return checkJobId(positionals[0]!, 'the job id');
}
