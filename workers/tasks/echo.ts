import { defineTask, type Json } from '../task.js';

export default defineTask<Json>({
  name: 'echo',
  description: 'Returns its input as output and its data as data; useful to measure overhead and test clients.',
  input: {},
  run: (input, { data }) => ({ output: input ?? null, data }),
});
