/**
 * The files `offload init` writes: a project of a team's own tasks, with a
 * test, a type check, and a Dockerfile that puts the tasks on offload's image.
 * offload itself is only a devDependency (types, tests, `npx offload`): in the
 * image, the base image runs the tasks and resolves their 'offload/task'.
 */

export interface TaskProjectOptions {
  /** npm package name. */
  name: string;
  /** How package.json names offload: "file:..." for a checkout, a version range when installed. */
  offloadSpec: string;
  /** offload's version: its image is tagged offload:VERSION. */
  version: string;
  /** Versions of the dev tools, as offload itself pins them. */
  tools: { typescript: string; tsx: string; typesNode: string };
}

/** Where the derived image keeps the project, and so its tasks (OFFLOAD_TASKS). */
export const IMAGE_PROJECT_DIR = '/project';

export function taskProjectFiles(options: TaskProjectOptions): Record<string, string> {
  const { name, version } = options;
  return {
    'package.json': `${JSON.stringify(
      {
        name,
        version: '0.1.0',
        private: true,
        type: 'module',
        scripts: {
          start: 'offload serve --tasks tasks',
          test: 'tsx --test tasks/*.test.ts',
          typecheck: 'tsc --noEmit',
        },
        devDependencies: {
          '@types/node': options.tools.typesNode,
          offload: options.offloadSpec,
          tsx: options.tools.tsx,
          typescript: options.tools.typescript,
        },
        // tsx's esbuild works without its install script (it only checks its binary).
        allowScripts: { esbuild: false },
      },
      null,
      2,
    )}\n`,
    'tsconfig.json': `${JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          types: ['node'],
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          verbatimModuleSyntax: true,
        },
        include: ['tasks'],
      },
      null,
      2,
    )}\n`,
    'tasks/word-count.ts': WORD_COUNT,
    'tasks/word-count.test.ts': WORD_COUNT_TEST,
    Dockerfile: dockerfile(name, version),
    '.dockerignore': 'node_modules\n.git\n*.log\n',
    '.gitignore': 'node_modules\n',
    'README.md': readme(name, version),
  };
}

const WORD_COUNT = `import { defineTask, TaskError } from 'offload/task';

interface WordCountInput {
  /** The text; when absent, the request's data is read as UTF-8 text. */
  text?: string;
  /** How many of the most frequent words to return. */
  top: number;
}

/** An example to replace with your own: offload runs it on a worker thread, so it may use all the CPU it likes. */
export default defineTask<WordCountInput>({
  name: 'word-count',
  description: 'Counts the words in text (or in the request data); outputs {words, distinct, top}.',
  input: {
    type: 'object',
    properties: {
      text: { type: 'string', maxLength: 1000000 },
      top: { type: 'integer', minimum: 0, maximum: 100, default: 3 },
    },
    additionalProperties: false,
  },
  run({ text, top }, { data, progress, signal }) {
    const source = text ?? new TextDecoder().decode(data);
    if (source.trim() === '') throw new TaskError('INVALID_ARGUMENT', 'there is no text: send input.text or data');
    const lines = source.split('\\n');
    const counts = new Map<string, number>();
    let words = 0;
    for (const [index, line] of lines.entries()) {
      signal.throwIfAborted(); // a cancelled call stops here
      for (const word of line.toLowerCase().match(/[\\p{L}\\p{N}']+/gu) ?? []) {
        counts.set(word, (counts.get(word) ?? 0) + 1);
        words++;
      }
      progress((index + 1) / lines.length, \`\${index + 1} of \${lines.length} lines\`);
    }
    const ranked = [...counts].sort(([a, x], [b, y]) => y - x || a.localeCompare(b)).slice(0, top);
    return { words, distinct: counts.size, top: ranked.map(([word, count]) => ({ word, count })) };
  },
});
`;

const WORD_COUNT_TEST = `import assert from 'node:assert/strict';
import { test } from 'node:test';
import wordCount from './word-count.js';

/** What offload hands a task, minus the server: no bytes, progress ignored, never cancelled. */
const context = { data: new Uint8Array(), progress: () => {}, signal: new AbortController().signal };

test('word-count counts words and ranks the most frequent', async () => {
  const output = await wordCount.run({ text: 'To be, or not to be', top: 2 }, context);
  assert.deepEqual(output, { words: 6, distinct: 4, top: [{ word: 'be', count: 2 }, { word: 'to', count: 2 }] });
});

test('word-count reads the request data when there is no text', async () => {
  const data = new TextEncoder().encode('one two\\nthree');
  const output = await wordCount.run({ top: 0 }, { ...context, data });
  assert.deepEqual(output, { words: 3, distinct: 3, top: [] });
});

test('word-count refuses empty text with INVALID_ARGUMENT', async () => {
  await assert.rejects(async () => wordCount.run({ text: ' ', top: 3 }, context), { code: 'INVALID_ARGUMENT' });
});
`;

function dockerfile(name: string, version: string): string {
  return `# syntax=docker/dockerfile:1
# These tasks on offload's image. Build offload's image once, from offload's
# checkout (docker build -f deploy/Dockerfile -t offload:${version} .), then this one:
#
#   docker build -t ${name}:0.1.0 .
#   docker run --rm -p 50051:50051 ${name}:0.1.0
#
# The base image runs the tasks (TypeScript included, through tsx) and resolves
# their 'offload/task' imports itself: offload is not installed here.
FROM offload:${version}

USER root
WORKDIR ${IMAGE_PROJECT_DIR}
# The tasks' own npm dependencies, if they have any ("dependencies" in package.json).
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY tasks ./tasks

# Back to the base image's unprivileged user and working directory (its CMD runs from /app).
USER node
WORKDIR /app
ENV OFFLOAD_TASKS=${IMAGE_PROJECT_DIR}/tasks
`;
}

function readme(name: string, version: string): string {
  return `# ${name}

Tasks for offload, each a module in \`tasks/\` that
default-exports \`defineTask(...)\` from \`offload/task\`.

\`\`\`sh
npm install
npm test                 # the tasks' tests (node:test through tsx)
npm run typecheck
npm start                # offload serving these tasks on 127.0.0.1:50051
npx offload run word-count --input '{"text":"to be or not to be"}'
\`\`\`

Ship them on offload's image: build \`offload:${version}\` from offload's
checkout, then \`docker build -t ${name}:0.1.0 .\` here. The image keeps the
project in \`${IMAGE_PROJECT_DIR}\` and sets \`OFFLOAD_TASKS=${IMAGE_PROJECT_DIR}/tasks\`.
`;
}
