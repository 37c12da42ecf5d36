import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FLAGS } from '../../src/config.js';
import { repoRoot } from '../helpers/start-server.js';

const readme = readFileSync(`${repoRoot}/README.md`, 'utf8');

describe('the README', () => {
  it('starts with the install-and-start command and the test command', () => {
    const firstBlock = /```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
    expect(firstBlock).toContain('npm ci && npm start');
    expect(firstBlock).toContain('npm test');
  });

  it.each(Object.entries(FLAGS))('documents --%s with its environment variable in the configuration table', (flag, { env }) => {
    expect(readme).toMatch(new RegExp(`\\| \`--${flag}\` \\| \`${env}\``));
  });
});
