/**
 * The error catalogue against the README's status table: every message
 * offload puts on the wire is documented there with its code, written with
 * the README's placeholders (<name> for a task, N for a number).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Errors, OffloadError, Status } from '../../src/errors.js';

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const table = readme.slice(readme.indexOf('## Status codes'), readme.indexOf('## Configuration'));
const rows = table.split('\n').filter((line) => line.startsWith('| '));

/** Each entry as the README shows it; factories get the README's placeholders. */
const documented: Record<keyof typeof Errors, OffloadError | undefined> = {
  callCancelled: Errors.callCancelled,
  deadlinePassed: Errors.deadlinePassed,
  shuttingDown: Errors.shuttingDown,
  queueFull: Errors.queueFull('N' as unknown as number),
  tenantQueueFull: Errors.tenantQueueFull('<tenant>', 'N' as unknown as number),
  queueWaitExceeded: Errors.queueWaitExceeded('<name>', 'N' as unknown as number),
  runLimitExceeded: Errors.runLimitExceeded('<name>', 'N' as unknown as number),
  resultTooLarge: Errors.resultTooLarge('<name>', 'N' as unknown as number, 'N' as unknown as number),
  taskFailed: Errors.taskFailed('<name>', '<message>'),
  workerStopped: Errors.workerStopped('<name>'),
  workerOutOfMemory: Errors.workerOutOfMemory('<name>', 'N' as unknown as number),
  taskSuspended: Errors.taskSuspended('<name>', 'N' as unknown as number, 'N' as unknown as number),
  unknownTask: Errors.unknownTask('<name>'),
  itemUndecodable: Errors.itemUndecodable('<reason>'),
  unknownJob: Errors.unknownJob('<id>'),
  jobExists: Errors.jobExists('<id>'),
  invalidTenant: Errors.invalidTenant,
  missingCredentials: Errors.missingCredentials,
  invalidToken: Errors.invalidToken,
  invalidJobId: Errors.invalidJobId,
  invalidPriority: Errors.invalidPriority(7),
  valueWithoutKind: Errors.valueWithoutKind('input.x'),
  invalidInput: Errors.invalidInput('input.ms must be <= 60000'),
  // Not on the wire: a RunBatch handler that ended has no client left to tell, and the CLI prints its own.
  callEnded: undefined,
  noAnswerInTime: undefined,
  // The TypeScript client's own, about what it saw of the wire: never sent by a server.
  jobLost: undefined,
  watchEndedEarly: undefined,
  unreadableAnswer: undefined,
};

describe('the error catalogue', () => {
  it.each(Object.entries(documented).filter(([, error]) => error !== undefined))('documents %s in the README with its code and message', (_name, error) => {
    const { code, message } = error!;
    const row = rows.find((line) => line.includes(`\`${message}\``));
    expect(row, `a row of the README's status table showing \`${message}\``).toBeDefined();
    expect(row).toContain(`\`${Status[code]}\``);
  });

  it('names every entry above, so a new one cannot go undocumented', () => {
    expect(Object.keys(documented).sort()).toEqual(Object.keys(Errors).sort());
  });
});
