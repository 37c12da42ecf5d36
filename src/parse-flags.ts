/**
 * Command-line flags for `offload serve` and the client commands.
 *
 * node:util's parseArgs reads the command line (`--name=value`, `--`, short
 * aliases); the checks are done here, not by its strict mode. Strict mode
 * refuses `--max-queue -1` as ambiguous, so a value that starts with "-"
 * would never reach the validation that has the exact message for it, and its
 * own messages talk about positionals and `--`. Here a value that looks like a
 * number (`-1`, `-5s`, `-.5`) is taken as the value, and each mistake is one
 * FlagError that names the flag, for the caller to word with its command's help.
 */
import { parseArgs } from 'node:util';

export interface FlagSpec {
  readonly type: 'string' | 'boolean';
  /** Repeatable: the values collect in an array. */
  readonly multiple?: boolean;
  /** A one-letter alias, as `h` for -h. */
  readonly short?: string;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

export type FlagValues = Record<string, string | string[] | boolean | undefined>;

export type FlagProblem = 'unknown-flag' | 'missing-value' | 'unexpected-value' | 'unexpected-argument';

export class FlagError extends Error {
  override name = 'FlagError';
  constructor(
    readonly problem: FlagProblem,
    /** The flag as written (`--foo`, `-x`), or the stray argument. */
    readonly flag: string,
    message: string,
  ) {
    super(message);
  }
}

/** `-1`, `-5s`, `-.5`: what a user means as a (bad) value, not as a flag. */
const NEGATIVE_NUMBER = /^-\.?\d/;

export function parseFlags(
  argv: readonly string[],
  specs: FlagSpecs,
  { allowPositionals = false }: { allowPositionals?: boolean } = {},
): { values: FlagValues; positionals: string[] } {
  // Not strict: a string flag takes whatever follows it (`--port --json` too),
  // unknown flags pass as tokens, and the loop below words each mistake.
  const { tokens } = parseArgs({ args: [...argv], options: specs, strict: false, allowPositionals: true, tokens: true });
  const isFlag = (arg: string): boolean => {
    if (arg === '--') return true;
    const written = arg.split('=')[0]!;
    if (written.startsWith('--')) return Object.hasOwn(specs, written.slice(2));
    return Object.values(specs).some((spec) => spec.short !== undefined && `-${spec.short}` === written);
  };
  const values: FlagValues = {};
  const positionals: string[] = [];

  for (const token of tokens) {
    if (token.kind === 'positional') positionals.push(token.value);
    if (token.kind !== 'option') continue;
    const { name, value } = token;
    // parseArgs splits `-hx` (and `-port`, typed Go-style) into one-letter flags: name what was typed.
    const flag = token.rawName.startsWith('--') ? token.rawName : argv[token.index]!;
    if (!Object.hasOwn(specs, name)) throw new FlagError('unknown-flag', flag, `unknown flag ${flag}`);
    const spec = specs[name]!;
    if (spec.type === 'boolean') {
      if (value !== undefined) throw new FlagError('unexpected-value', flag, `${flag} takes no value (got "${value}")`);
      values[name] = true;
      continue;
    }
    if (value === undefined || (!token.inlineValue && value.startsWith('-') && value !== '-' && !NEGATIVE_NUMBER.test(value))) {
      // `--token -abc` is more likely a value than a mistyped flag: say how to pass it.
      const hint = value !== undefined && !isFlag(value) ? `; for a value that starts with "-", write ${flag}=${value}` : '';
      throw new FlagError('missing-value', flag, `${flag} needs a value${hint}`);
    }
    values[name] = spec.multiple ? [...((values[name] as string[] | undefined) ?? []), value] : value;
  }

  if (!allowPositionals && positionals.length > 0) {
    throw new FlagError('unexpected-argument', positionals[0]!, `unexpected argument "${positionals[0]}"`);
  }
  return { values, positionals };
}
