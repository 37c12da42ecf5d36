import { createHash } from 'node:crypto';
import { defineTask } from '../task.js';

const CHUNK = 1 << 20;

export default defineTask({
  name: 'sha256',
  description: 'Hashes the request data with SHA-256; outputs {hex}.',
  // Its output is a function of its request alone.
  cache: true,
  input: { type: 'object', properties: {}, additionalProperties: false },
  run(_input, { data, progress, signal }) {
    const hash = createHash('sha256');
    for (let offset = 0; offset < data.byteLength; offset += CHUNK) {
      signal.throwIfAborted();
      hash.update(data.subarray(offset, offset + CHUNK));
      progress(Math.min(1, (offset + CHUNK) / data.byteLength));
    }
    return { hex: hash.digest('hex') };
  },
});
