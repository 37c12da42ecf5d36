import type { Logger } from '../log.js';
import { OUTPUT_LINES_PER_SECOND } from '../pool/messages.js';
import type { TaskOutput } from '../pool/task-pool.js';

/**
 * Where a task's console output goes: one JSON log line per line printed,
 * with the task and the call (and batch item) that ran it; stdout at info,
 * stderr at warn, and a warning for lines dropped beyond the rate limit.
 */
export function createTaskOutputLog(log: Logger): (output: TaskOutput) => void {
  return ({ task, stream, line, dropped, call, item }) => {
    const fields = { task, call, item, stream };
    if (dropped !== undefined) {
      log.warn({ ...fields, dropped }, `${task ? `task ${task}` : 'a task module'} printed more than ${OUTPUT_LINES_PER_SECOND} lines a second; ${dropped} were dropped`);
    } else if (stream === 'stderr') log.warn(fields, line);
    else log.info(fields, line);
  };
}
