import { performance } from 'node:perf_hooks';
import { defineTask } from '../task.js';

interface SpinInput {
  ms: number;
  steps: number;
}

export default defineTask<SpinInput>({
  name: 'spin',
  description: 'Keeps one CPU core busy for `ms` milliseconds, reporting progress `steps` times; outputs {ms}.',
  input: {
    type: 'object',
    properties: {
      ms: { type: 'integer', minimum: 0, maximum: 60000, description: 'How long to burn the CPU, in milliseconds.' },
      steps: { type: 'integer', minimum: 1, maximum: 10000, default: 10, description: 'How many progress reports to make.' },
    },
    required: ['ms'],
    additionalProperties: false,
  },
  run({ ms, steps }, { progress, signal }) {
    const start = performance.now();
    for (let step = 1; step <= steps; step++) {
      const until = start + (ms * step) / steps;
      // A real busy loop: the point of this task is to occupy a core.
      while (performance.now() < until) signal.throwIfAborted();
      progress(step / steps, `step ${step} of ${steps}`);
    }
    return { ms };
  },
});
