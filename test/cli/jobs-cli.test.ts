import { execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Errors } from '../../src/errors.js';
import { JobState } from '../../src/gen/offload/v1/compute.js';
import type { ComputeServer } from '../../src/server/create-compute-server.js';
import { connect, type ComputeClient } from '../helpers/client.js';
import { eventually } from '../helpers/eventually.js';
import { repoRoot, startServer } from '../helpers/start-server.js';

// The real binary, compiled by test/global-setup.ts.
const BIN = join(repoRoot, 'dist/src/cli/offload.js');
const exec = promisify(execFile);

let server: ComputeServer;
let direct: ComputeClient;
let closeDirect: () => void;

beforeAll(async () => {
  server = await startServer(['--workers', '2']);
  ({ client: direct, close: closeDirect } = connect(server.address));
});
afterAll(async () => {
  closeDirect();
  await server.close();
});

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

async function offload(args: string[]): Promise<Outcome> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [BIN, ...args], { env: { ...process.env, OFFLOAD_ADDRESS: server.address }, timeout: 30_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

async function submitted(task: string, input: unknown): Promise<string> {
  const { code, stdout } = await offload(['submit', task, '--input', JSON.stringify(input)]);
  expect(code).toBe(0);
  return stdout.trim();
}

describe('offload submit', () => {
  it('prints the job id on stdout and how to follow it on stderr', async () => {
    const { code, stdout, stderr } = await offload(['submit', 'echo', '--input', '{"a":1}', '--job-id', 'cli-submit-1']);
    expect(code).toBe(0);
    expect(stdout).toBe('cli-submit-1\n');
    expect(stderr).toBe('submitted job cli-submit-1 (echo); follow it with: offload watch cli-submit-1\n');
    const { job } = await direct.getJob({ jobId: 'cli-submit-1' });
    expect(job?.task).toBe('echo');
  });

  it('chooses a random id unless given one, and says with --json whether a submit created the job', async () => {
    const id = await submitted('echo', 1);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const again = await offload(['submit', 'echo', '--input', '1', '--job-id', id, '--json']);
    expect(again).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(again.stdout)).toEqual({ id, created: false });
    const other = await offload(['submit', 'echo', '--input', '2', '--job-id', id]);
    expect(other).toMatchObject({ code: 1, stderr: `offload: ALREADY_EXISTS: ${Errors.jobExists(id).message}\n` });
  });
});

describe('offload watch', () => {
  it('prints the job events and exits 0 with the output', async () => {
    const id = await submitted('spin', { ms: 400, steps: 4 });
    const { code, stdout } = await offload(['watch', id]);
    expect(code).toBe(0);
    // However far the job got before the command attached: Started once, progress up to 1, then the result.
    const events = jsonLines(stdout);
    expect(events[0]).toMatchObject({ type: 'started' });
    expect(events.filter((e) => e['type'] === 'started')).toHaveLength(1);
    expect(events.filter((e) => e['type'] === 'progress').at(-1)).toMatchObject({ fraction: 1, message: 'step 4 of 4' });
    expect(events.at(-1)).toMatchObject({ type: 'result', output: { ms: 400 }, dataBytes: 0 });
  });

  it('draws a live progress bar labelled with the task on a terminal, then the output', async () => {
    const id = await submitted('spin', { ms: 600, steps: 6 });
    // `script` gives the command a pseudo-terminal, as a user's shell would.
    const { stdout } = await exec('script', ['-qfec', `${process.execPath} ${BIN} watch ${id}`, '/dev/null'], { env: { ...process.env, OFFLOAD_ADDRESS: server.address } });
    expect(stdout.split('\r').some((frame) => /spin \[#+-*\]\s+\d+%\s+step \d of 6\s+\d+\.\ds/.test(frame))).toBe(true);
    expect(stdout).toContain('"ms": 600');
    expect(stdout).toMatch(/done in \d+\.\d ms/);
  });

  it('prints a failed job as STATUS: message and exits 1', async () => {
    const id = await submitted('fixture.task-error', { code: 'FAILED_PRECONDITION', message: 'the input is stale' });
    const { code, stderr } = await offload(['watch', id]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^offload: FAILED_PRECONDITION: .*the input is stale\n$/);
  });

  it('says NOT_FOUND for a job that never was, and exits 1', async () => {
    expect(await offload(['watch', 'never-was-cli'])).toMatchObject({ code: 1, stderr: `offload: NOT_FOUND: ${Errors.unknownJob('never-was-cli').message}\n` });
  });

  it('detaches on Ctrl-C: exits 130 with the command to re-attach, and the job still finishes', async () => {
    const id = await submitted('spin', { ms: 5000, steps: 50 });
    const child = spawn(process.execPath, [BIN, 'watch', id, '--json'], { env: { ...process.env, OFFLOAD_ADDRESS: server.address } });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    await eventually(() => expect(out).toContain('"type":"started"'));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(err).toBe(`offload: detached; job ${id} goes on. Re-attach with: offload watch ${id}\n`);
    expect(out).not.toContain('"type":"result"');
    await eventually(async () => expect((await direct.getJob({ jobId: id })).job?.state).toBe(JobState.JOB_STATE_SUCCEEDED));
  });

  it('stops watching at --deadline and says the job goes on', async () => {
    const id = await submitted('fixture.wait', { ms: 5000 });
    const { code, stderr } = await offload(['watch', id, '--deadline', '200ms', '--json']);
    expect(code).toBe(1);
    expect(stderr).toBe(`offload: DEADLINE_EXCEEDED: stopped watching job ${id} after 200ms (--deadline); it goes on: offload watch ${id}\n`);
    await eventually(async () => expect((await direct.getJob({ jobId: id })).job?.state).toBe(JobState.JOB_STATE_SUCCEEDED));
  });
});

describe('offload job and offload cancel', () => {
  it('prints a finished job with its output, or as one JSON object with --json', async () => {
    const id = await submitted('spin', { ms: 100, steps: 2 });
    await eventually(async () => expect((await direct.getJob({ jobId: id })).job?.state).toBe(JobState.JOB_STATE_SUCCEEDED));
    const { code, stdout } = await offload(['job', id]);
    expect(code).toBe(0);
    expect(stdout).toContain(`job      ${id}\ntask     spin\nstate    succeeded\n`);
    expect(stdout).toMatch(/^progress 100% {2}step 2 of 2$/m);
    expect(stdout).toMatch(/^output {3}\{"ms":100\}$/m);
    const json = JSON.parse((await offload(['job', id, '--json'])).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ id, task: 'spin', state: 'succeeded', result: { output: { ms: 100 }, dataBytes: 0, cached: false } });
    expect(new Date(json['createdAt'] as string).getTime()).not.toBeNaN();
  });

  it('says (cached) for a job answered from the cache, on the terminal and in JSON', async () => {
    await offload(['run', 'primes', '--input', '{"limit":4321}']);
    const id = await submitted('primes', { limit: 4321 });
    const { stdout } = await offload(['job', id]);
    expect(stdout).toMatch(/^took {5}\d+\.\d ms \(queued \d+\.\d ms\) \(cached\)$/m);
    const json = JSON.parse((await offload(['job', id, '--json'])).stdout) as Record<string, unknown>;
    expect(json).toMatchObject({ state: 'succeeded', result: { output: { count: 590 }, cached: true } });
    // And `run` on a terminal says it after the timings.
    const { stdout: tty } = await exec('script', ['-qfec', `${process.execPath} ${BIN} run primes --input '{"limit":4321}'`, '/dev/null'], { env: { ...process.env, OFFLOAD_ADDRESS: server.address } });
    expect(tty).toMatch(/done in \d+\.\d ms \(queued \d+\.\d ms\) \(cached\)/);
  });

  it('cancels a running job, which then shows as cancelled with its failure', async () => {
    const id = await submitted('fixture.wait', { ms: 30_000 });
    await eventually(async () => expect((await direct.getJob({ jobId: id })).job?.state).toBe(JobState.JOB_STATE_RUNNING));
    const { code, stdout } = await offload(['cancel', id]);
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^job ${id} (cancelled|is stopping \\(it was running\\); offload job ${id} shows when it has)\\n$`));
    await eventually(async () => expect((await direct.getJob({ jobId: id })).job?.state).toBe(JobState.JOB_STATE_CANCELLED));
    expect((await offload(['job', id])).stdout).toMatch(/^failure {2}CANCELLED: the call was cancelled$/m);
    expect((await offload(['cancel', id])).stdout).toBe(`job ${id} cancelled\n`);
  });

  it('leaves a job that has ended as it is', async () => {
    const id = await submitted('echo', 'done already');
    await eventually(async () => expect((await direct.getJob({ jobId: id })).job?.state).toBe(JobState.JOB_STATE_SUCCEEDED));
    expect(await offload(['cancel', id, '--json']).then((o) => JSON.parse(o.stdout) as unknown)).toMatchObject({ id, state: 'succeeded', result: { output: 'done already' } });
    expect((await offload(['cancel', id])).stdout).toBe(`job ${id} had already ended (succeeded); nothing to cancel\n`);
  });
});

describe('job commands, used wrongly', () => {
  it('exit 2 with one line', async () => {
    const [watch, job, cancel, submit, badId, unknownFlag] = await Promise.all([
      offload(['watch']),
      offload(['job', 'a', 'b']),
      offload(['cancel', 'no spaces']),
      offload(['submit']),
      offload(['submit', 'echo', '--job-id', 'a/b']),
      offload(['watch', 'x', '--foo']),
    ]);
    expect(watch).toMatchObject({ code: 2, stderr: 'offload: offload watch takes one job id; see offload watch --help\n' });
    expect(job).toMatchObject({ code: 2, stderr: 'offload: offload job takes one job id; see offload job --help\n' });
    expect(cancel).toMatchObject({
      code: 2,
      stderr: 'offload: the job id must be 1 to 128 characters of A-Z, a-z, 0-9, ".", "_", "~" or "-" (got "no spaces")\n',
    });
    expect(submit).toMatchObject({ code: 2, stderr: 'offload: offload submit takes one task name; see offload submit --help\n' });
    expect(badId).toMatchObject({ code: 2, stderr: expect.stringMatching(/^offload: --job-id must be 1 to 128 characters.*\n$/) as unknown });
    expect(unknownFlag).toMatchObject({ code: 2, stderr: 'offload: unknown flag --foo for "offload watch"; see offload watch --help\n' });
  });

  it('print their help with --help', async () => {
    const commands = ['submit', 'watch', 'job', 'cancel'];
    const helps = await Promise.all(commands.map((command) => offload([command, '--help'])));
    for (const [index, { code, stdout }] of helps.entries()) {
      expect(code).toBe(0);
      expect(stdout).toMatch(new RegExp(`^Usage: offload ${commands[index]} `));
    }
    expect((await offload(['--help'])).stdout).toMatch(/^ {2}watch {4}follow a job with a live progress bar; Ctrl-C detaches/m);
  });
});
