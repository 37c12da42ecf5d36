/**
 * A task's console output arrives as JSON log lines naming the task and the
 * call, never as raw text between them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createComputeClient, type ComputeClient } from '../../src/index.js';
import { OUTPUT_LINES_PER_SECOND } from '../../bridge/messages.js';
import { createComputeServer, type ComputeServer } from '../../src/server/create-compute-server.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { eventually } from '../helpers/eventually.js';
import { fixtureTasksDir, repoRoot } from '../helpers/start-server.js';
import { spawnServer } from '../helpers/spawn-server.js';

const log = captureLogger('info');
let server: ComputeServer;
let client: ComputeClient;

beforeAll(async () => {
  server = await createComputeServer(loadConfig(['--port', '0', '--workers', '1', '--tasks', fixtureTasksDir], {}), { logger: log.logger });
  client = createComputeClient(server.address, { retry: false });
});
afterAll(async () => {
  client.close();
  await server.close();
});

const outputLines = (seen: number) => log.lines.slice(seen).filter((l) => l['task'] === 'fixture.chatty' && l['stream'] !== undefined);

describe("a task's console output", () => {
  it('becomes log lines with the task and the call: stdout at info, stderr at warn, a last partial line included', async () => {
    const seen = log.lines.length;
    await client.run('fixture.chatty', { lines: 2 });
    const lines = await eventually(() => {
      const found = outputLines(seen);
      expect(found).toHaveLength(4);
      return found;
    });
    expect(lines.map((l) => [l['level'], l['stream'], l['msg']])).toEqual([
      [30, 'stdout', 'line 1 { i: 1 }'],
      [30, 'stdout', 'line 2 { i: 2 }'],
      [40, 'stderr', 'something went sideways'],
      [30, 'stdout', 'no newline at the end'],
    ]);
    const call = log.lines.slice(seen).find((l) => l['msg'] === 'call' && l['task'] === 'fixture.chatty');
    expect(call?.['call']).toEqual(expect.any(Number));
    for (const line of lines) expect(line['call']).toBe(call!['call']);
  });

  it('keeps a character whose bytes came in two writes', async () => {
    const seen = log.lines.length;
    await client.run('fixture.chatty', { lines: 0, bytes: true });
    await eventually(() => expect(outputLines(seen).map((l) => l['msg'])).toEqual(['café crème', 'something went sideways', 'no newline at the end']));
  });

  it('names the batch item whose task printed it', async () => {
    const seen = log.lines.length;
    for await (const _ of client.runBatch([{ id: 'item-7', task: 'fixture.chatty', input: { lines: 1 } }]));
    await eventually(() => expect(outputLines(seen).map((l) => l['item'])).toEqual(['item-7', 'item-7', 'item-7']));
  });

  it(`is rate-limited to ${OUTPUT_LINES_PER_SECOND} lines a second per task, with a warning counting what was dropped`, async () => {
    const seen = log.lines.length;
    await client.run('fixture.chatty', { lines: 1000 });
    // One warning per one-second window that dropped lines: on a busy machine the lines may span two.
    const { warnings, printed } = await eventually(() => {
      const warnings = log.lines.slice(seen).filter((l) => l['dropped'] !== undefined);
      const printed = outputLines(seen).filter((l) => l['dropped'] === undefined).length;
      const dropped = warnings.reduce((sum, l) => sum + (l['dropped'] as number), 0);
      expect(printed + dropped).toBe(1002);
      return { warnings, printed };
    });
    for (const warning of warnings) expect(warning).toMatchObject({ level: 40, task: 'fixture.chatty' });
    // 1000 lines, one error line and a partial line fall in one or two one-second
    // windows (the earlier tests' lines may have used part of the first).
    expect(warnings.length).toBeGreaterThan(0);
    expect(printed).toBeGreaterThan(0);
    expect(printed).toBeLessThanOrEqual(2 * OUTPUT_LINES_PER_SECOND);
  });
});

describe('the server process', () => {
  it('prints nothing but JSON lines on stdout while tasks print', async () => {
    const child = await spawnServer([`${repoRoot}/dist/src/main.js`, '--port', '0', '--workers', '1', '--tasks', fixtureTasksDir]);
    const remote = createComputeClient(child.address, { retry: false });
    try {
      await remote.run('fixture.chatty', { lines: 3 });
      await eventually(() => expect(child.stdout()).toContain('no newline at the end'));
    } finally {
      remote.close();
      await child.stop();
    }
    for (const line of child.stdout().trim().split('\n')) expect((): unknown => JSON.parse(line), line).not.toThrow();
    expect(child.stderr()).toBe('');
  });
});
