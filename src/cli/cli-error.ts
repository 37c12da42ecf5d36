/** A failure the CLI reports as one line on stderr and an exit code: 1 for a failed call, 2 for bad usage. */
export class CliError extends Error {
  override name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 2,
  ) {
    super(message);
  }
}
