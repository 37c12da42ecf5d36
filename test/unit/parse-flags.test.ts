import { describe, expect, it } from 'vitest';
import { FlagError, parseFlags, type FlagSpecs } from '../../src/parse-flags.js';

const SPECS: FlagSpecs = {
  port: { type: 'string' },
  tasks: { type: 'string', multiple: true },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

function problem(argv: string[], allowPositionals = false): Pick<FlagError, 'problem' | 'flag' | 'message'> {
  try {
    parseFlags(argv, SPECS, { allowPositionals });
  } catch (error) {
    if (error instanceof FlagError) return { problem: error.problem, flag: error.flag, message: error.message };
    throw error;
  }
  throw new Error(`${JSON.stringify(argv)} parsed`);
}

describe('parseFlags', () => {
  it('reads string values given apart or after "=", booleans, short aliases and repeated flags', () => {
    expect(parseFlags(['--port', '1', '--json', '--tasks=a', '--tasks', 'b', '-h'], SPECS).values).toEqual({
      port: '1',
      json: true,
      tasks: ['a', 'b'],
      help: true,
    });
  });

  it('takes a value that starts with "-" and looks like a number, so validation can name it', () => {
    expect(parseFlags(['--port', '-1'], SPECS).values).toEqual({ port: '-1' });
    expect(parseFlags(['--port', '-5s'], SPECS).values).toEqual({ port: '-5s' });
    expect(parseFlags(['--port', '-.5'], SPECS).values).toEqual({ port: '-.5' });
    expect(parseFlags(['--port=--json'], SPECS).values).toEqual({ port: '--json' });
  });

  it('says a flag needs a value when it ends the line or another flag follows it', () => {
    expect(problem(['--port'])).toEqual({ problem: 'missing-value', flag: '--port', message: '--port needs a value' });
    expect(problem(['--port', '--json'])).toMatchObject({ message: '--port needs a value' });
    expect(problem(['--port', '--'])).toMatchObject({ message: '--port needs a value' });
  });

  it('shows how to pass a value that starts with "-" and is no flag', () => {
    expect(problem(['--port', '-abc'])).toMatchObject({ message: '--port needs a value; for a value that starts with "-", write --port=-abc' });
  });

  it('names an unknown flag as written, without its value', () => {
    expect(problem(['--json', '--wrokers=2'])).toEqual({ problem: 'unknown-flag', flag: '--wrokers', message: 'unknown flag --wrokers' });
    expect(problem(['-x'])).toMatchObject({ problem: 'unknown-flag', flag: '-x' });
    expect(problem(['-port', '1'])).toMatchObject({ problem: 'unknown-flag', flag: '-port' });
    expect(problem(['-hx'])).toMatchObject({ problem: 'unknown-flag', flag: '-hx' });
    expect(problem(['--constructor'])).toMatchObject({ problem: 'unknown-flag', flag: '--constructor' });
  });

  it('refuses a value for a boolean flag', () => {
    expect(problem(['--json=yes'])).toEqual({ problem: 'unexpected-value', flag: '--json', message: '--json takes no value (got "yes")' });
  });

  it('collects positionals only where the command takes them, and everything after "--"', () => {
    expect(parseFlags(['run', '--json', 'x', '--', '--port'], SPECS, { allowPositionals: true }).positionals).toEqual(['run', 'x', '--port']);
    expect(problem(['5'])).toEqual({ problem: 'unexpected-argument', flag: '5', message: 'unexpected argument "5"' });
  });
});
