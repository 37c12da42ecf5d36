/**
 * Hostile input: structurally valid but hostile inputs for every bundled task
 * (nesting thousands deep, a million numbers, 10 MB strings, NaN and
 * infinities, wrong types and absurd numbers for every field, a progress
 * flood, messages over the size limit), then a seeded fuzzer of random and
 * mutated request bodies on every method. Every call must end with a gRPC
 * status within seconds, the server must stay up, a normal call must work
 * afterwards and memory must come back near its baseline.
 *
 * Replay a fuzz run with OFFLOAD_FUZZ_SEED=<seed>; OFFLOAD_SOAK=1 sends ten
 * times as many fuzz bodies.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ListTasksResponse } from '../../src/gen/offload/v1/compute.js';
import {
  CALL_BUDGET_MS,
  describeOutcome,
  expectNoWarnings,
  expectNormalCallWorks,
  expectRecovered,
  inParallel,
  recoveredSample,
  SOAK,
  budget,
} from './common.js';
import { Prng, runSeed } from './prng.js';
import { RawClient, statusName, Tally, type Outcome } from './raw-client.js';
import { createReport, fill, type Row } from './report.js';
import { OffloadProcess, type Sample } from './server-process.js';
import {
  batchItemBody,
  decodeBatchEvent,
  decodeRunResponse,
  decodeStreamEvent,
  nestedValue,
  PATHS,
  rawRunBody,
  runBody,
  runStreamBody,
  value,
  lenField,
  type RequestFields,
} from './wire.js';

const report = createReport('hostile-input');
const BUNDLED = ['echo', 'primes', 'sha256', 'spin'] as const;
/** A valid input for each bundled task, cheap to run; hostile cases change one field at a time. */
const VALID: Record<string, Record<string, unknown>> = { echo: {}, primes: { limit: 100 }, sha256: {}, spin: { ms: 1 } };
/** A gRPC client gives up on trailers beyond 8 KB by default; offload's messages must stay well below. */
const MAX_STATUS_MESSAGE = 4096;
const MiB = 1024 * 1024;

let server: OffloadProcess;
let baseline: Sample;
const schemas = new Map<string, Record<string, unknown>>();

beforeAll(async () => {
  server = await OffloadProcess.start('hostile-input', ['--cancel-grace-ms', '300']);
  const client = new RawClient(server.address);
  try {
    const list = await client.unary(PATHS.listTasks, Buffer.alloc(0), { keep: true });
    for (const task of ListTasksResponse.decode(list.messages[0]!).tasks) schemas.set(task.name, task.inputSchema ?? {});
    // Every worker imports every bundled task once before the baseline.
    for (const task of BUNDLED) await Promise.all([1, 2].map(() => client.unary(PATHS.run, runBody({ task, input: VALID[task] }))));
  } finally {
    client.close();
  }
  baseline = await recoveredSample(server, await server.sample({ gc: true }));
}, 120_000);

afterAll(() => server?.kill());

// ---- hostile cases ----------------------------------------------------------

interface Case {
  name: string;
  call: 'run' | 'stream' | 'batch';
  /** Built when the case runs, so at most a few big bodies exist at once. */
  body: () => RequestFields | Buffer;
  /** Status names the call may end with. */
  expect: string[];
  /** Further checks on an OK outcome's decoded output; returns a problem or undefined. */
  output?: (output: unknown) => string | undefined;
  /** Checks on the whole outcome (stream events, say). */
  check?: (outcome: Outcome) => string | undefined;
  deadlineMs?: number;
}

const ok = (name: string, call: Case['call'], body: Case['body'], output?: Case['output']): Case => ({ name, call, body, expect: ['OK'], ...(output ? { output } : {}) });
const refused = (name: string, call: Case['call'], body: Case['body'], codes = ['INVALID_ARGUMENT']): Case => ({ name, call, body, expect: codes });

/** Runs one case on a connection of its own and returns what went wrong, if anything. */
async function runCase(c: Case): Promise<{ outcome: Outcome; problem: string | undefined }> {
  const client = new RawClient(server.address);
  try {
    const opts = { watchdogMs: CALL_BUDGET_MS + 5000, keep: true, ...(c.deadlineMs ? { deadlineMs: c.deadlineMs } : {}) };
    const built = c.body();
    let outcome: Outcome;
    let output: unknown;
    let problem: string | undefined;
    if (c.call === 'run') {
      const body = Buffer.isBuffer(built) ? built : runBody(built);
      outcome = await client.unary(PATHS.run, body, opts);
      if (outcome.code === 0) output = decodeRunResponse(outcome.messages[0]!).result?.output;
    } else if (c.call === 'stream') {
      const body = Buffer.isBuffer(built) ? built : runStreamBody(built);
      outcome = await client.serverStream(PATHS.runStream, body, opts);
      if (outcome.code === 0) {
        const events = outcome.messages.map(decodeStreamEvent);
        problem = streamProblem(events.map((e) => ({ progress: e.progress?.fraction, result: e.result !== undefined })));
        output = events.at(-1)?.result?.output;
      }
    } else {
      const body = Buffer.isBuffer(built) ? built : batchItemBody('item', built);
      outcome = await client.bidi(PATHS.runBatch, [body], opts);
      if (outcome.code === 0) {
        // The call went well; the item's own outcome is what the case is about.
        const events = outcome.messages.map(decodeBatchEvent);
        const end = events.find((e) => e.result || e.failure);
        if (!end) problem = 'the batch ended without a result or failure for its item';
        else if (end.failure) outcome = { ...outcome, code: end.failure.code, details: end.failure.message };
        else output = end.result?.output;
      }
    }
    outcome.messages = [];
    const name = statusName(outcome.code);
    if (!c.expect.includes(name)) problem = `expected ${c.expect.join(' or ')}, got ${describeOutcome(outcome)}`;
    else if (outcome.ms > CALL_BUDGET_MS) problem = `took ${Math.round(outcome.ms)} ms (budget ${CALL_BUDGET_MS} ms)`;
    else if (outcome.code !== 0 && outcome.details.length > MAX_STATUS_MESSAGE) {
      problem = `status message is ${outcome.details.length} characters (at most ${MAX_STATUS_MESSAGE}): ${describeOutcome(outcome)}`;
    } else if (name === 'INTERNAL' && outcome.details === 'internal error') problem = 'INTERNAL "internal error": a bug in offload (see the server log)';
    problem ??= outcome.code === 0 && c.output ? c.output(output) : undefined;
    problem ??= c.check?.(outcome);
    return { outcome, problem };
  } finally {
    client.close();
  }
}

/** A stream's events: fractions within [0, 1] and nondecreasing, exactly one result, last. */
function streamProblem(events: { progress: number | undefined; result: boolean }[]): string | undefined {
  let last = 0;
  for (const [i, e] of events.entries()) {
    if (e.progress !== undefined) {
      if (!(e.progress >= last && e.progress <= 1)) return `progress ${e.progress} after ${last}`;
      last = e.progress;
    }
    if (e.result && i !== events.length - 1) return 'a result before the last event';
  }
  if (!events.at(-1)?.result) return 'the stream ended without a result';
  return undefined;
}

/**
 * Runs a group of cases (`parallel` at a time), fills the row, and checks that
 * the server recovered; every case that misbehaved is listed in one failure.
 */
async function runGroup(row: Row, cases: Case[], parallel = 1): Promise<void> {
  const before = await server.sample({ gc: true });
  row.before = before;
  const restarts = await server.restarts();
  const warnings = server.stderr.length;
  const peak = server.watchRss();
  const tally = new Tally();
  const problems: string[] = (row.problems = []);
  try {
    await inParallel(cases, parallel, async (c) => {
      const { outcome, problem } = await runCase(c);
      tally.add(outcome);
      if (problem) problems.push(`${c.name} (${c.call}): ${problem}`);
    });
  } finally {
    row.peakRssMb = peak.stop();
    fill(row, tally);
  }
  expect.soft(server.alive, 'the server is still running').toBe(true);
  expect.soft(problems, 'cases that did not end as expected').toEqual([]);
  await expectNormalCallWorks(server.address);
  const after = await recoveredSample(server, before);
  row.after = after;
  row.restarts = (await server.restarts()) - restarts;
  expectNoWarnings(server, warnings, row);
  expectRecovered(before, after);
}

/** Output checks. */
const equals = (expected: unknown) => (output: unknown) =>
  Object.is(output, expected) || JSON.stringify(output) === JSON.stringify(expected) ? undefined : `output ${JSON.stringify(output)?.slice(0, 80)} is not ${JSON.stringify(expected)?.slice(0, 80)}`;
function depthOf(v: unknown): number {
  let depth = 0;
  while (Array.isArray(v)) {
    depth++;
    v = v[0];
  }
  return depth;
}

const property = (task: string): [string, Record<string, unknown>][] =>
  Object.entries(((schemas.get(task) ?? {})['properties'] ?? {}) as Record<string, Record<string, unknown>>);
const numericFields = (): [string, string, Record<string, unknown>][] =>
  BUNDLED.flatMap((task) => property(task).filter(([, s]) => s['type'] === 'integer' || s['type'] === 'number').map(([p, s]) => [task, p, s] as [string, string, Record<string, unknown>]));

function validNumber(n: number, schema: Record<string, unknown>): boolean {
  if (!Number.isFinite(n)) return false;
  if (schema['type'] === 'integer' && !Number.isInteger(n)) return false;
  if (typeof schema['minimum'] === 'number' && n < schema['minimum']) return false;
  if (typeof schema['maximum'] === 'number' && n > schema['maximum']) return false;
  return true;
}

describe('hostile input', () => {
  it('the bundled tasks are all served', () => {
    expect([...schemas.keys()]).toEqual(expect.arrayContaining([...BUNDLED]));
  });

  it('values nested thousands deep are refused (or echoed when shallow) without hurting the server', async () => {
    const row = report.scenario('Hostile input', 'values nested thousands deep (lists and structs, up to 100 000 levels)');
    const deep = ['INTERNAL', 'INVALID_ARGUMENT'];
    const cases: Case[] = [
      refused('echo, a list 5 000 deep', 'run', () => rawRunBody('echo', nestedValue(5000, value.number(1))), deep),
      refused('echo, a list 100 000 deep', 'run', () => rawRunBody('echo', nestedValue(100_000, value.number(1))), deep),
      refused('echo, a struct 5 000 deep', 'run', () => rawRunBody('echo', nestedValue(5000, value.string('x'), 'struct')), deep),
      refused('echo, a list 5 000 deep', 'stream', () => rawRunBody('echo', nestedValue(5000, value.number(1))), deep),
      refused('echo, a list 5 000 deep', 'batch', () => lenField(3, nestedValue(5000, value.number(1))), deep),
      refused('spin, ms nested 5 000 deep', 'run', () => rawRunBody('spin', value.struct([['ms', nestedValue(5000, value.number(1))]])), deep),
      refused('primes, limit nested 5 000 deep', 'run', () => rawRunBody('primes', value.struct([['limit', nestedValue(5000, value.number(1), 'struct')]])), deep),
      refused('sha256, input nested 5 000 deep', 'run', () => rawRunBody('sha256', nestedValue(5000, value.null())), deep),
      ok('echo, a list 40 deep round-trips', 'run', () => rawRunBody('echo', nestedValue(40, value.number(7))), (o) => (depthOf(o) === 40 ? undefined : `depth ${depthOf(o)}`)),
    ];
    await runGroup(row, cases);
  }, 180_000);

  it('a million numbers and 10 MB strings are served or refused, and memory comes back', async () => {
    const row = report.scenario('Hostile input', 'a million numbers, 10 MB strings, 100 000 keys');
    const million = (): number[] => Array.from({ length: 1_000_000 }, (_, i) => i);
    const tenMb = (): string => 's'.repeat(10 * MiB);
    const data = Buffer.alloc(10 * MiB, 7);
    const hex = createHash('sha256').update(data).digest('hex');
    const lastIs = (n: number) => (o: unknown) => (Array.isArray(o) && o.length === 1_000_000 && o[999_999] === n ? undefined : 'not the million numbers back');
    const cases: Case[] = [
      ok('echo, a list of 1 000 000 numbers', 'run', () => ({ task: 'echo', input: million() }), lastIs(999_999)),
      ok('echo, a list of 1 000 000 numbers', 'stream', () => ({ task: 'echo', input: million() }), lastIs(999_999)),
      ok('echo, a list of 1 000 000 numbers', 'batch', () => ({ task: 'echo', input: million() }), lastIs(999_999)),
      refused('spin, ms a list of 1 000 000 numbers', 'run', () => ({ task: 'spin', input: { ms: million() } })),
      refused('primes, limit a list of 1 000 000 numbers', 'run', () => ({ task: 'primes', input: { limit: million() } })),
      refused('sha256, input a list of 1 000 000 numbers', 'run', () => ({ task: 'sha256', input: million() })),
      ok('echo, a 10 MB string', 'run', () => ({ task: 'echo', input: tenMb() }), (o) => (typeof o === 'string' && o.length === 10 * MiB ? undefined : 'not the string back')),
      ok('echo, a 10 MB string', 'stream', () => ({ task: 'echo', input: tenMb() }), (o) => (typeof o === 'string' && o.length === 10 * MiB ? undefined : 'not the string back')),
      ok('sha256 of 10 MB of data', 'run', () => ({ task: 'sha256', data }), equals({ hex })),
      ok('sha256 of 10 MB of data', 'batch', () => ({ task: 'sha256', data }), equals({ hex })),
      refused('primes, limit a 10 MB string', 'run', () => ({ task: 'primes', input: { limit: tenMb() } })),
      refused('spin, ms a 10 MB string', 'stream', () => ({ task: 'spin', input: { ms: tenMb() } })),
      ok('echo, a struct of 100 000 keys', 'run', () => ({ task: 'echo', input: Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i])) }), (o) =>
        o && typeof o === 'object' && Object.keys(o).length === 100_000 ? undefined : 'not the struct back'),
      refused('spin with 100 000 unknown fields', 'run', () => ({ task: 'spin', input: Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`k${i}`, i])) })),
    ];
    await runGroup(row, cases);
  }, 240_000);

  it('long task names, field names and error messages still end with a bounded status', async () => {
    const row = report.scenario('Hostile input', 'long task names, field names and task messages (100 KB to 10 MB)');
    const long = (n: number, ch = 'x'): string => ch.repeat(n);
    const cases: Case[] = [
      refused('a task name of 100 KB', 'run', () => ({ task: long(100_000) }), ['NOT_FOUND']),
      refused('a task name of 10 MB', 'run', () => ({ task: long(10 * MiB) }), ['NOT_FOUND']),
      refused('a task name of 1 MB', 'stream', () => ({ task: long(MiB) }), ['NOT_FOUND']),
      refused('a task name of 1 MB', 'batch', () => ({ task: long(MiB) }), ['NOT_FOUND']),
      refused('spin, an unknown field whose name is 100 KB', 'run', () => ({ task: 'spin', input: { ms: 1, [long(100_000, 'k')]: 1 } })),
      refused('spin, an unknown field whose name is 10 MB', 'run', () => ({ task: 'spin', input: { ms: 1, [long(10 * MiB, 'k')]: 1 } })),
      refused('fixture.throws with a 10 MB message', 'run', () => ({ task: 'fixture.throws', input: { message: long(10 * MiB, 'm') } }), ['INTERNAL']),
      refused('fixture.task-error with a 1 MB message', 'stream', () => ({ task: 'fixture.task-error', input: { code: 'FAILED_PRECONDITION', message: long(MiB, 'm') } }), [
        'FAILED_PRECONDITION',
      ]),
      ok('echo in a batch item whose id is 1 MB', 'batch', () => batchItemBody(long(MiB, 'i'), { task: 'echo', input: 1 }), equals(1)),
    ];
    // In parallel: a call that never ends costs its watchdog once, not once per case.
    await runGroup(row, cases, cases.length);
  }, 180_000);

  it('NaN and infinities are refused by every numeric field and echoed as they are', async () => {
    const row = report.scenario('Hostile input', 'NaN and ±Infinity in every numeric field; echoed by echo');
    const cases: Case[] = [];
    for (const [task, field] of numericFields()) {
      for (const n of [NaN, Infinity, -Infinity]) {
        for (const call of ['run', 'stream', 'batch'] as const) cases.push(refused(`${task}, ${field} = ${n}`, call, () => ({ task, input: { ...VALID[task], [field]: n } })));
      }
    }
    cases.push(
      ok('echo NaN', 'run', () => ({ task: 'echo', input: NaN }), (o) => (Number.isNaN(o) ? undefined : `got ${String(o)}`)),
      ok('echo [Infinity, -Infinity, NaN]', 'stream', () => ({ task: 'echo', input: [Infinity, -Infinity, NaN] }), (o) =>
        Array.isArray(o) && o[0] === Infinity && o[1] === -Infinity && Number.isNaN(o[2]) ? undefined : `got ${String(o)}`),
      ok('echo {x: -Infinity}', 'batch', () => ({ task: 'echo', input: { x: -Infinity } }), equals({ x: -Infinity })),
    );
    expect(cases.length).toBeGreaterThan(20);
    await runGroup(row, cases, 8);
  }, 120_000);

  it('wrong types for every field, the whole input and malformed Values are INVALID_ARGUMENT naming the field', async () => {
    const row = report.scenario('Hostile input', 'wrong types for every field and for the whole input; Values without a kind');
    const candidates: [string, unknown][] = [['a string', '12'], ['a boolean', true], ['null', null], ['a list', [1]], ['a struct', { n: 1 }], ['a fraction', 1.5], ['a number', 12]];
    const fits = (v: unknown, type: unknown): boolean =>
      (type === 'integer' && Number.isInteger(v)) || (type === 'number' && typeof v === 'number') || (type === 'string' && typeof v === 'string') ||
      (type === 'boolean' && typeof v === 'boolean') || (type === 'array' && Array.isArray(v)) || (type === 'null' && v === null) ||
      (type === 'object' && typeof v === 'object' && v !== null && !Array.isArray(v));
    const cases: Case[] = [];
    for (const task of BUNDLED) {
      for (const [field, schema] of property(task)) {
        for (const [label, wrong] of candidates) {
          if (fits(wrong, schema['type'])) continue;
          const c = refused(`${task}, ${field} is ${label}`, 'run', () => ({ task, input: { ...VALID[task], [field]: wrong } }));
          c.check = (o) => (o.details.startsWith(`input.${field}`) ? undefined : `the message does not name input.${field}: "${o.details}"`);
          cases.push(c);
        }
      }
      const schema = schemas.get(task) ?? {};
      if (schema['type'] === 'object') {
        for (const [label, wrong] of candidates.filter(([, v]) => !fits(v, 'object'))) {
          cases.push(refused(`${task}, the input is ${label}`, 'stream', () => ({ task, input: wrong })));
        }
      }
      if (schema['additionalProperties'] === false) cases.push(refused(`${task}, an unknown field`, 'batch', () => ({ task, input: { ...VALID[task], bogus: 1 } })));
    }
    cases.push(
      // A Value with no kind set is not a JSON value: the request is malformed, not the task.
      refused('echo, a list holding a Value with no kind', 'run', () => rawRunBody('echo', value.list([value.number(1), value.empty()]))),
      refused('echo, a struct field holding a list with a Value with no kind', 'stream', () => rawRunBody('echo', value.struct([['a', value.list([value.empty()])]]))),
      refused('spin, ms a Value with no kind', 'run', () => rawRunBody('spin', value.struct([['ms', value.empty()]]))),
      ok('echo, the input a Value with no kind (absent)', 'run', () => rawRunBody('echo', value.empty()), equals(null)),
    );
    expect(cases.length).toBeGreaterThan(40);
    await runGroup(row, cases, 8);
  }, 120_000);

  it('huge, negative and out-of-range numbers in every numeric field are refused (and in-range ones served)', async () => {
    const row = report.scenario('Hostile input', 'huge, negative and out-of-range numbers in every numeric field');
    const cases: Case[] = [];
    for (const [task, field, schema] of numericFields()) {
      const edges = [-1, -0, 1.5, 1e21, -1e308, 1e308, Number.MAX_VALUE, -Number.MAX_VALUE, 2 ** 53 + 2, -(2 ** 53), Number.MIN_VALUE, 5e9];
      if (typeof schema['minimum'] === 'number') edges.push(schema['minimum'] - 1);
      if (typeof schema['maximum'] === 'number') edges.push(schema['maximum'] + 1);
      for (const n of edges) {
        const input = { ...VALID[task], [field]: n };
        cases.push(validNumber(n, schema) ? ok(`${task}, ${field} = ${n} (in range)`, 'run', () => ({ task, input })) : refused(`${task}, ${field} = ${n}`, 'run', () => ({ task, input })));
      }
    }
    expect(cases.length).toBeGreaterThan(20);
    await runGroup(row, cases, 8);
  }, 120_000);

  it('a progress flood (steps in the billions) is refused by spin and coalesced for fixture.flood, with memory bounded', async () => {
    const row = report.scenario('Hostile input', 'progress flood: steps in the billions; 10 000 steps in 20 ms; fixture.flood');
    const floodEvents = (max: number) => (o: Outcome) => (o.count <= max ? undefined : `${o.count} events for a flood of ${max - 100} ms: not coalesced`);
    const floodOutput = (o: unknown) => ((o as { steps?: number } | undefined)?.steps ?? 0) > 100_000 ? undefined : `only ${JSON.stringify(o)} reports: not a flood`;
    const cases: Case[] = [
      refused('spin, steps = 5e9', 'run', () => ({ task: 'spin', input: { ms: 10, steps: 5e9 } })),
      refused('spin, steps = 5e9', 'stream', () => ({ task: 'spin', input: { ms: 10, steps: 5e9 } })),
      refused('spin, steps = 5e9', 'batch', () => ({ task: 'spin', input: { ms: 10, steps: 5e9 } })),
      { ...ok('spin, 10 000 steps in 20 ms', 'stream', () => ({ task: 'spin', input: { ms: 20, steps: 10_000 } }), equals({ ms: 20 })), check: floodEvents(10_002) },
      { ...ok('fixture.flood, 1e10 reports for 800 ms', 'stream', () => ({ task: 'fixture.flood', input: { steps: 1e10, ms: 800 } }), floodOutput), check: floodEvents(900) },
      ok('fixture.flood, 1e10 reports for 800 ms', 'run', () => ({ task: 'fixture.flood', input: { steps: 1e10, ms: 800 } }), floodOutput),
      ok('fixture.flood, 1e10 reports for 800 ms', 'batch', () => ({ task: 'fixture.flood', input: { steps: 1e10, ms: 800 } }), floodOutput),
    ];
    await runGroup(row, cases, 2);
    expect.soft(row.peakRssMb!, 'peak RSS during the flood').toBeLessThan(row.before!.rssMb + 128);
  }, 120_000);

  it('messages over the size limit get RESOURCE_EXHAUSTED; one just under it is served', async () => {
    const row = report.scenario('Hostile input', 'messages over the 64 MiB limit (and one just under)');
    const over = (): Buffer => Buffer.alloc(64 * MiB + 1024, 1);
    const cases: Case[] = [
      refused('sha256 of 64 MiB + 1 KB', 'run', () => ({ task: 'sha256', data: over() }), ['RESOURCE_EXHAUSTED']),
      refused('echo, a 65 MiB string', 'stream', () => ({ task: 'echo', input: 'x'.repeat(65 * MiB) }), ['RESOURCE_EXHAUSTED']),
      refused('a batch item of 64 MiB + 1 KB', 'batch', () => ({ task: 'sha256', data: over() }), ['RESOURCE_EXHAUSTED']),
      ok('sha256 of 60 MiB', 'run', () => ({ task: 'sha256', data: Buffer.alloc(60 * MiB, 1) }), (o) => (typeof (o as { hex?: unknown })?.hex === 'string' ? undefined : 'no hash')),
    ];
    await runGroup(row, cases);
  }, 180_000);
});

describe('malformed items in a RunBatch stream', () => {
  it('a batch whose later item cannot be decoded ends with a status, and its cancelled items cost no worker', async () => {
    const rounds = SOAK ? 400 : 40;
    const row = report.scenario('Hostile input', `RunBatch with an undecodable item after valid ones (2 shapes × ${rounds}, the fuzzer's hangs made deterministic)`);
    const before = await server.sample({ gc: true });
    row.before = before;
    const restarts = await server.restarts();
    const warnings = server.stderr.length;
    // Field 1 with wire type 6, which no protobuf decoder accepts.
    const undecodable = Buffer.from([0x0a, 0x02, 0x69, 0x64, 0x0e, 0x01]);
    const shapes: [string, Buffer[]][] = [
      ['three unknown-task items, then an undecodable one', [1, 2, 3].map((n) => batchItemBody(String(n), { task: 'nope' })).concat(undecodable)],
      ['two running fixture.wait items, then an undecodable one', [1, 2].map((n) => batchItemBody(String(n), { task: 'fixture.wait', input: { ms: 200 } })).concat(undecodable)],
    ];
    const tally = new Tally();
    const problems: string[] = (row.problems = []);
    const counts = new Map<string, Tally>();
    try {
      await inParallel(shapes.flatMap((shape) => Array.from({ length: rounds }, () => shape)), 10, async ([label, bodies]) => {
        const client = new RawClient(server.address);
        try {
          const outcome = await client.bidi(PATHS.runBatch, bodies, { watchdogMs: 4000 });
          tally.add(outcome);
          const mine = counts.get(label) ?? new Tally();
          mine.add(outcome);
          counts.set(label, mine);
          // Refusing the bad item alone (INVALID_ARGUMENT) or the whole call (INTERNAL, as grpc-js does) are both fine.
          if (!['OK', 'INTERNAL', 'INVALID_ARGUMENT'].includes(statusName(outcome.code))) problems.push(`${label}: ${describeOutcome(outcome)}`);
        } finally {
          client.close();
        }
      });
    } finally {
      fill(row, tally);
    }
    for (const [label, mine] of counts) row.notes.push(`${label}: ${mine.toString()}`);
    expect.soft([...new Set(problems)], 'batches that did not end with a status').toEqual([]);
    const after = await recoveredSample(server, before);
    row.after = after;
    row.restarts = (await server.restarts()) - restarts;
    // fixture.wait sleeps on its signal: cancelling it must not cost a worker.
    expect.soft(row.restarts, 'workers terminated to cancel items that honour cancellation').toBe(0);
    await expectNormalCallWorks(server.address);
    expectNoWarnings(server, warnings, row);
    expectRecovered(before, after);
  }, 120_000);
});

// ---- the fuzzer --------------------------------------------------------------

type Method = 'run' | 'stream' | 'batch' | 'list' | 'unknown';

const FUZZ_SEED = runSeed(0x0ff10ad);
/** Statuses a fuzzed call may end with; INTERNAL only from grpc-js decoding or a failing task, never "internal error". */
const FUZZ_ALLOWED = new Set(['OK', 'INVALID_ARGUMENT', 'NOT_FOUND', 'INTERNAL', 'RESOURCE_EXHAUSTED', 'DEADLINE_EXCEEDED']);

function corpus(): RequestFields[] {
  return [
    { task: 'echo', input: 1 },
    { task: 'echo', input: 'a string' },
    { task: 'echo', input: [1, 'two', true, null, { three: [3] }] },
    { task: 'echo', input: { a: { b: [true, null, 1.5] } }, data: Buffer.from('bytes') },
    { task: 'spin', input: { ms: 1 } },
    { task: 'spin', input: { ms: 3, steps: 3 } },
    { task: 'primes', input: { limit: 1000 } },
    { task: 'sha256', data: Buffer.from('some bytes to hash') },
    { task: 'sha256', input: {} },
    { task: 'fixture.throws', input: { message: 'fuzz' } },
    { task: 'nope', input: { x: 1 } },
  ];
}

function mutate(rng: Prng, body: Buffer, others: Buffer[]): Buffer {
  let out = Buffer.from(body);
  const rounds = rng.int(1, 4);
  for (let r = 0; r < rounds; r++) {
    const at = out.length === 0 ? 0 : rng.int(0, out.length - 1);
    switch (rng.int(0, 9)) {
      case 0: // flip a bit
        if (out.length) out[at] = out[at]! ^ (1 << rng.int(0, 7));
        break;
      case 1: // an interesting byte
        if (out.length) out[at] = rng.pick([0x00, 0xff, 0x7f, 0x80, 0x01, rng.int(0, 255)]);
        break;
      case 2: // truncate
        out = out.subarray(0, at);
        break;
      case 3: // insert random bytes
        out = Buffer.concat([out.subarray(0, at), rng.bytes(rng.int(1, 16)), out.subarray(at)]);
        break;
      case 4: // delete a range
        out = Buffer.concat([out.subarray(0, at), out.subarray(Math.min(out.length, at + rng.int(1, 8)))]);
        break;
      case 5: {
        // duplicate a range
        const end = Math.min(out.length, at + rng.int(1, 32));
        out = Buffer.concat([out.subarray(0, end), out.subarray(at, end), out.subarray(end)]);
        break;
      }
      case 6: // append random bytes
        out = Buffer.concat([out, rng.bytes(rng.int(1, 32))]);
        break;
      case 7: {
        // splice with another body
        const other = rng.pick(others);
        out = Buffer.concat([out.subarray(0, at), other.subarray(rng.int(0, other.length))]);
        break;
      }
      case 8: // a huge varint (a length or tag no one can satisfy)
        out = Buffer.concat([out.subarray(0, at), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), out.subarray(at + 1)]);
        break;
      default: // overwrite a double's worth of bytes
        for (let i = at; i < Math.min(out.length, at + 8); i++) out[i] = rng.int(0, 255);
    }
  }
  return out;
}

interface FuzzCall {
  index: number;
  method: Method;
  path: string;
  bodies: Buffer[];
}

function* fuzzCalls(rng: Prng, count: number): Generator<FuzzCall> {
  const seeds = corpus();
  const runBodies = seeds.map(runBody);
  const batchBodies = seeds.map((fields, i) => batchItemBody(`id-${i}`, fields));
  for (let index = 0; index < count; index++) {
    const roll = rng.next();
    const method: Method = roll < 0.4 ? 'run' : roll < 0.7 ? 'stream' : roll < 0.9 ? 'batch' : roll < 0.95 ? 'list' : 'unknown';
    const body = (pool: Buffer[]): Buffer => (rng.chance(0.15) ? rng.bytes(rng.int(0, 300)) : mutate(rng, rng.pick(pool), pool));
    if (method === 'batch') {
      const bodies = Array.from({ length: rng.int(1, 4) }, () => (rng.chance(0.5) ? rng.pick(batchBodies) : body(batchBodies)));
      yield { index, method, path: PATHS.runBatch, bodies };
    } else if (method === 'list') {
      yield { index, method, path: PATHS.listTasks, bodies: [rng.chance(0.5) ? Buffer.alloc(0) : rng.bytes(rng.int(1, 64))] };
    } else if (method === 'unknown') {
      const path = rng.pick([`${PATHS.run}x`, '/offload.v1.ComputeService/', '/offload.v2.ComputeService/Run', `/${rng.bytes(8).toString('hex')}/Run`]);
      yield { index, method, path, bodies: [body(runBodies)] };
    } else {
      yield { index, method, path: method === 'run' ? PATHS.run : PATHS.runStream, bodies: [body(runBodies)] };
    }
  }
}

describe('fuzzing every method with random and mutated bodies', () => {
  let fuzzServer: OffloadProcess | undefined;
  afterAll(() => fuzzServer?.kill());

  it(`ends every call with an expected status within seconds (seed ${FUZZ_SEED})`, async () => {
    const count = SOAK ? 30_000 : 3000;
    const row = report.scenario('Hostile input', `fuzzer: ${count} random and mutated bodies on Run, RunStream, RunBatch, ListTasks and unknown methods`);
    row.notes.push(`seed ${FUZZ_SEED} (replay: OFFLOAD_FUZZ_SEED=${FUZZ_SEED})`, '--max-run-ms 1000 bounds fuzzed spins and sieves');
    // A server of its own: --max-run-ms keeps a fuzzed `spin` or `primes` from holding a worker for a minute.
    const server = await OffloadProcess.start('hostile-fuzz', ['--max-run-ms', '1000', '--cancel-grace-ms', '300']);
    fuzzServer = server;
    const warm = new RawClient(server.address);
    for (const task of BUNDLED) await Promise.all([1, 2].map(() => warm.unary(PATHS.run, runBody({ task, input: VALID[task] }))));
    warm.close();
    const before = await recoveredSample(server, await server.sample({ gc: true }));
    row.before = before;
    const restarts = await server.restarts();
    const warnings = server.stderr.length;
    const rng = new Prng(FUZZ_SEED);
    const clients = Array.from({ length: 4 }, () => new RawClient(server.address));
    const tally = new Tally();
    const problems: string[] = (row.problems = []);
    const peak = server.watchRss();
    try {
      await inParallel(fuzzCalls(rng, count), 4, async (call) => {
        const client = clients[call.index % clients.length]!;
        const opts = { watchdogMs: CALL_BUDGET_MS + 5000 };
        const outcome =
          call.method === 'stream'
            ? await client.serverStream(call.path, call.bodies[0]!, opts)
            : call.method === 'batch'
              ? await client.bidi(call.path, call.bodies, opts)
              : await client.unary(call.path, call.bodies[0]!, opts);
        tally.add(outcome);
        const name = statusName(outcome.code);
        const allowed = call.method === 'unknown' ? name === 'UNIMPLEMENTED' : FUZZ_ALLOWED.has(name) && !(name === 'INTERNAL' && outcome.details === 'internal error');
        const why = !allowed ? 'unexpected status' : outcome.ms > CALL_BUDGET_MS ? 'too slow' : outcome.details.length > MAX_STATUS_MESSAGE ? 'status message too long' : undefined;
        if (why && problems.length < 20) {
          const hex = call.bodies.map((b) => b.subarray(0, 96).toString('hex') + (b.length > 96 ? `…(${b.length} bytes)` : '')).join(' | ');
          problems.push(`#${call.index} ${call.method} ${call.path}: ${why}: ${describeOutcome(outcome)}; body ${hex}`);
        }
      });
    } finally {
      row.peakRssMb = peak.stop();
      for (const client of clients) client.close();
      fill(row, tally);
    }
    expect.soft(server.alive, 'the server is still running').toBe(true);
    expect.soft(problems, `fuzzed calls that misbehaved (seed ${FUZZ_SEED})`).toEqual([]);
    expect.soft(tally.get('HUNG'), 'calls that never ended').toBe(0);
    // Most bodies are refused, but the corpus is valid, so some calls must go through.
    expect.soft(tally.get('OK'), 'calls served').toBeGreaterThan(count / 20);
    const faults = server.errorLines().filter((line) => line['message'] === 'internal error');
    expect.soft(faults.map((line) => String(line['detail']).split('\n')[0]), 'offload faults in the server log').toEqual([]);
    await expectNormalCallWorks(server.address);
    const after = await recoveredSample(server, before);
    row.after = after;
    row.restarts = (await server.restarts()) - restarts;
    if (row.restarts > 0) row.notes.push(`${row.restarts} workers were terminated although no fuzzed task ignores cancellation (see the cancellation storm)`);
    expectNoWarnings(server, warnings, row);
    expectRecovered(before, after);
  }, budget(300_000));
});

describe('after all the hostile input', () => {
  it('the server is up, answers a normal call, and is back near its baseline', async () => {
    const row = report.scenario('Hostile input', 'after every hostile scenario: the same server against its first baseline');
    row.before = baseline;
    expect(server.alive).toBe(true);
    await expectNormalCallWorks(server.address);
    const after = await recoveredSample(server, baseline);
    row.after = after;
    row.restarts = await server.restarts();
    row.notes.push(`${server.errorLines().length} error-level log lines (failing fixture tasks log at error by design)`);
    expectNoWarnings(server, 0, row);
    expectRecovered(baseline, after);
  }, 60_000);
});
