#!/usr/bin/env node
/**
 * The `offload` command: `serve` runs the server; `tasks`, `run`, the job
 * commands and `health` are clients. Failed calls print "offload: STATUS:
 * message" and exit 1; usage errors exit 2; Ctrl-C during `run` (which
 * cancels) or `watch` (which detaches) exits 130.
 */
import { ClientError } from 'nice-grpc';
import { Errors, OffloadError, Status } from '../errors.js';
import { CliError } from './cli-error.js';
import { healthCommand } from './health-command.js';
import { initCommand } from './init-command.js';
import { cancelCommand, jobCommand } from './job-command.js';
import { suppressIpServernameWarning } from './quiet-warnings.js';
import { runCommand } from './run-command.js';
import { serve } from './serve.js';
import { submitCommand } from './submit-command.js';
import { tasksCommand } from './tasks-command.js';
import { watchCommand } from './watch-command.js';

const USAGE = `Usage: offload <command> [flags]

Commands:
  serve    run the server (offload serve --help for its flags)
  tasks    list the tasks a server runs
  run      run a task, with a live progress bar (offload run --help)
  submit   submit a job that goes on without the command; prints its id
  watch    follow a job with a live progress bar; Ctrl-C detaches (offload watch ID)
  job      show a job: state, progress, result or failure (offload job ID)
  cancel   stop a job (offload cancel ID)
  health   ask a server whether it is serving
  init     start a project of your own tasks (offload init DIR)

Environment: OFFLOAD_ADDRESS, OFFLOAD_TOKEN, OFFLOAD_TENANT for the client commands.
`;

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  tasks: tasksCommand,
  run: runCommand,
  submit: submitCommand,
  watch: watchCommand,
  job: jobCommand,
  cancel: cancelCommand,
  health: healthCommand,
  init: initCommand,
};

async function main([command, ...argv]: string[]): Promise<number> {
  if (command === 'serve') {
    await serve(argv);
    return -1; // the server decides when the process ends
  }
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  const handler = COMMANDS[command];
  if (!handler) throw new CliError(`unknown command "${command}"\n\n${USAGE}`);
  return handler(argv);
}

function report(error: unknown): number {
  if (error instanceof CliError) {
    process.stderr.write(`offload: ${error.message}\n`);
    return error.exitCode;
  }
  const failure =
    error instanceof ClientError
      ? new OffloadError(error.code, error.details)
      : error instanceof Error && error.name === 'AbortError'
        ? Errors.noAnswerInTime
        : OffloadError.from(error);
  process.stderr.write(`offload: ${Status[failure.code]}: ${failure.detail && failure.message === 'internal error' ? failure.detail : failure.message}\n`);
  return 1;
}

suppressIpServernameWarning();
const code = await main(process.argv.slice(2)).catch(report);
if (code >= 0) process.exitCode = code;
