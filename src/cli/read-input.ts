/** What `run` and `submit` send: --input (inline JSON or @file) and --data-file. */
import { readFileSync } from 'node:fs';
import type { Json } from '../client/events.js';
import { CliError } from './cli-error.js';

export function parseInput(text: string): Json {
  const source = text.startsWith('@') ? readBytes(text.slice(1)).toString('utf8') : text;
  try {
    return JSON.parse(source) as Json;
  } catch (error) {
    throw new CliError(`--input is not valid JSON: ${(error as Error).message}`);
  }
}

export function readBytes(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new CliError(`cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}
