/**
 * Command-line flags for `offload serve` and the client commands.
 *
 * node:util's parseArgs refuses `--max-queue -1` as ambiguous, so a value
 * that starts with "-" never reached the validation that has the exact
 * message for it; and its own messages talk about positionals and `--`. Here
 * a value that looks like a number (`-1`, `-5s`, `-.5`) is taken as the
 * value, and each mistake is one FlagError that names the flag, for the
 * caller to word with its command's help.
 */

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
  const values: FlagValues = {};
  const positionals: string[] = [];
  const nameOf = (flag: string): string | undefined => {
    const name = flag.startsWith('--') ? flag.slice(2) : Object.keys(specs).find((n) => specs[n]!.short !== undefined && `-${specs[n]!.short}` === flag);
    return name !== undefined && Object.hasOwn(specs, name) ? name : undefined;
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const equals = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const flag = equals === -1 ? arg : arg.slice(0, equals);
    const inline = equals === -1 ? undefined : arg.slice(equals + 1);
    const name = nameOf(flag);
    if (name === undefined) throw new FlagError('unknown-flag', flag, `unknown flag ${flag}`);
    const spec = specs[name]!;
    if (spec.type === 'boolean') {
      if (inline !== undefined) throw new FlagError('unexpected-value', flag, `${flag} takes no value (got "${inline}")`);
      values[name] = true;
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || next === '--' || (next.startsWith('-') && next !== '-' && !NEGATIVE_NUMBER.test(next))) {
        // `--token -abc` is more likely a value than a mistyped flag: say how to pass it.
        const hint = next !== undefined && next !== '--' && nameOf(next.split('=')[0]!) === undefined ? `; for a value that starts with "-", write ${flag}=${next}` : '';
        throw new FlagError('missing-value', flag, `${flag} needs a value${hint}`);
      }
      value = next;
      i++;
    }
    values[name] = spec.multiple ? [...((values[name] as string[] | undefined) ?? []), value] : value;
  }

  if (!allowPositionals && positionals.length > 0) {
    throw new FlagError('unexpected-argument', positionals[0]!, `unexpected argument "${positionals[0]}"`);
  }
  return { values, positionals };
}
