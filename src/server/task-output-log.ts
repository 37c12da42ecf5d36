import type { Logger } from '../log.js';
import { OUTPUT_LINES_PER_SECOND, type TaskOutputMessage } from '../../bridge/messages.js';

/**
 * Where a task's console output goes: one JSON log line per line printed,
 * with the task and the call (and batch item) that ran it; stdout at info,
 * stderr at warn, and a warning for lines dropped beyond the rate limit.
 */
export function createTaskOutputLog(log: Logger): (output: TaskOutputMessage) => void {
  return (output) => {
    const { task, call, item, stream } = output;
    const fields = { task, call, item, stream };
    if ('dropped' in output) {
      log.warn({ ...fields, dropped: output.dropped }, `${task ? `task ${task}` : 'a task module'} printed more than ${OUTPUT_LINES_PER_SECOND} lines a second; ${output.dropped} were dropped`);
    } else if (stream === 'stderr') log.warn(fields, output.line);
    else log.info(fields, output.line);
  };
}
