/**
 * Tenants in the token file: `TOKEN`, `NAME:TOKEN` and `NAME:TOKEN:WEIGHT`
 * lines, and the exact message for each mistake, naming the line but never
 * what is on it.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'offload-tokens-'));
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

let files = 0;
async function tokenFile(contents: string): Promise<string> {
  const path = join(dir, `tokens-${++files}`);
  await writeFile(path, contents);
  return path;
}

/** The ConfigError a token file with these contents stops the start with, given by the flag. */
async function failure(contents: string): Promise<{ path: string; message: string }> {
  const path = await tokenFile(contents);
  try {
    loadConfig(['--auth-token-file', path], {});
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return { path, message: (error as Error).message };
  }
  throw new Error('expected the token file to be refused');
}

describe('loadConfig: tenants in the token file', () => {
  it('gives a bare token to the default tenant, of weight 1', async () => {
    const config = loadConfig(['--auth-token-file', await tokenFile('plain-token\n')], {});
    expect(config.auth).toEqual([{ token: 'plain-token', tenant: 'default' }]);
    expect(config.tenantWeights).toEqual(new Map([['default', 1]]));
  });

  it('reads NAME:TOKEN and NAME:TOKEN:WEIGHT lines, with several tokens for one tenant', async () => {
    const path = await tokenFile('# team tokens\nteam-a:alpha-1:3\nteam-a:alpha-2\nTeam_B.2:bravo/=+\nbare-token\nc:charlie:1000\n');
    const config = loadConfig([], { OFFLOAD_AUTH_TOKEN_FILE: path });
    expect(config.auth).toEqual([
      { token: 'alpha-1', tenant: 'team-a' },
      { token: 'alpha-2', tenant: 'team-a' },
      { token: 'bravo/=+', tenant: 'Team_B.2' },
      { token: 'bare-token', tenant: 'default' },
      { token: 'charlie', tenant: 'c' },
    ]);
    expect(config.tenantWeights).toEqual(new Map([['team-a', 3], ['Team_B.2', 1], ['default', 1], ['c', 1000]]));
  });

  it('takes a tenant weight written on any one of its lines', async () => {
    const config = loadConfig(['--auth-token-file', await tokenFile('ops:old-token\nops:new-token:5\nops:next-token:5\n')], {});
    expect(config.tenantWeights.get('ops')).toBe(5);
  });

  it('freezes the tokens and the weights', async () => {
    const config = loadConfig(['--auth-token-file', await tokenFile('a:x:2\n')], {});
    expect(Object.isFrozen(config.auth)).toBe(true);
    expect(Object.isFrozen(config.auth[0])).toBe(true);
    expect(Object.isFrozen(config.tenantWeights)).toBe(true);
  });

  it('accepts a tenant name of 64 characters', async () => {
    const name = 'n'.repeat(64);
    const config = loadConfig(['--auth-token-file', await tokenFile(`${name}:token\n`)], {});
    expect(config.auth[0]!.tenant).toBe(name);
  });

  it.each([
    ['an empty name', ':secret-token'],
    ['a name with a character outside [A-Za-z0-9._-]', 'team+a!:secret-token'],
    ['a name of 65 characters', `${'n'.repeat(65)}:secret-token`],
  ])('refuses %s, naming the line', async (_what, line) => {
    const { path, message } = await failure(`# tokens\n\n${line}\n`);
    expect(message).toBe(`--auth-token-file: line 3 of ${path}: the tenant name must be 1 to 64 characters of A-Z, a-z, 0-9, ".", "_" or "-"`);
  });

  it.each(['0', '1001', '-1', '2.5', 'x', '', '99999'])('refuses the weight "%s", naming the line', async (weight) => {
    const { path, message } = await failure(`ok:fine-token\nteam:secret-token:${weight}\n`);
    expect(message).toBe(`--auth-token-file: line 2 of ${path}: the weight must be an integer from 1 to 1000`);
  });

  it('refuses a line with more than two ":"', async () => {
    const { path, message } = await failure('team:secret:token:2\n');
    expect(message).toBe(`--auth-token-file: line 1 of ${path}: too many ":" (a line is TOKEN, NAME:TOKEN or NAME:TOKEN:WEIGHT)`);
  });

  it.each(['team:', 'team::2'])('refuses an empty token in "%s"', async (line) => {
    const { path, message } = await failure(`${line}\n`);
    expect(message).toBe(`--auth-token-file: line 1 of ${path}: the token is empty (a line is TOKEN, NAME:TOKEN or NAME:TOKEN:WEIGHT)`);
  });

  it('refuses a token written twice, for one tenant or two', async () => {
    const same = await failure('secret-token\nother\nsecret-token\n');
    expect(same.message).toBe(`--auth-token-file: line 3 of ${same.path}: the token of line 1 again; write each token once`);
    const two = await failure('a:secret-token\nb:secret-token\n');
    expect(two.message).toBe(`--auth-token-file: line 2 of ${two.path}: the token of line 1 again; write each token once`);
  });

  it('refuses one tenant given two different weights', async () => {
    const { path, message } = await failure('team:first-secret:2\nteam:second-secret\nteam:third-secret:3\n');
    expect(message).toBe(`--auth-token-file: line 3 of ${path}: weight 3 for tenant team, which line 1 gives weight 2; give a tenant one weight`);
  });

  it('names OFFLOAD_AUTH_TOKEN_FILE when the file came from it', async () => {
    const path = await tokenFile('team:secret-token:0\n');
    expect(() => loadConfig([], { OFFLOAD_AUTH_TOKEN_FILE: path })).toThrow(
      new ConfigError(`OFFLOAD_AUTH_TOKEN_FILE: line 1 of ${path}: the weight must be an integer from 1 to 1000`),
    );
  });

  it('never puts a token in a message', async () => {
    const lines = [':secret-token', 'bad name:secret-token', 'team:secret-token:0', 'a:b:secret-token:1', 'team:secret-token\nteam:secret-token', 'a:secret-token:2\na:secret-2:3'];
    for (const line of lines) {
      const { message } = await failure(`${line}\n`);
      expect(message).not.toContain('secret');
    }
  });
});
