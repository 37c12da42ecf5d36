/**
 * A full garbage collection in another Node process, asked for through its
 * inspector, so a heap reading afterwards counts what is kept, not garbage
 * that V8 has not collected yet. The process is started with
 * `--inspect-port=127.0.0.1:0` (servers.ts), which opens nothing; SIGUSR1
 * opens the inspector on a free port the first time it is needed, and the
 * process names it on stderr ("Debugger listening on ws://…").
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { withTimeout } from './stats.js';

/** The inspector's WebSocket URL, once SIGUSR1 has opened it. */
async function openInspector(pid: number, logFile: string, timeoutMs: number): Promise<string> {
  const named = (): string | undefined => /Debugger listening on (ws:\/\/\S+)/.exec(readFileSync(logFile, 'utf8'))?.[1];
  const already = named();
  if (already) return already;
  process.kill(pid, 'SIGUSR1');
  for (const until = Date.now() + timeoutMs; Date.now() < until; await sleep(20)) {
    const url = named();
    if (url) return url;
  }
  throw new Error(`no inspector named in ${logFile} within ${timeoutMs} ms of SIGUSR1`);
}

/**
 * A child holding one WebSocket to the inspector: each line on its stdin
 * asks for a collection, and it answers each with a line when V8 is done
 * ("ok", or why not), so a collection costs a round trip, not a new process.
 */
const HELPER_SCRIPT = `
const ws = new WebSocket(process.argv[1]);
let next = 1;
ws.onmessage = (event) => {
  const reply = JSON.parse(event.data);
  if (reply.id !== undefined) process.stdout.write((reply.error ? JSON.stringify(reply.error) : 'ok') + '\\n');
};
ws.onerror = () => { console.error('inspector WebSocket failed'); process.exit(1); };
ws.onclose = () => process.exit(0);
ws.onopen = () => {
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => { for (const _ of chunk.split('\\n').slice(1)) ws.send(JSON.stringify({ id: next++, method: 'HeapProfiler.collectGarbage' })); });
  process.stdin.on('end', () => process.exit(0));
  process.stdout.write('open\\n');
};
`;

/** The helper, started: `collect()` resolves when its collection is done. */
async function startHelper(url: string, timeoutMs: number): Promise<{ collect(): Promise<void> }> {
  // Node 20 has a WebSocket client only behind --experimental-websocket (Node 22 and later accept the flag
  // and ignore it); the load generator should not change its own flags for one reading.
  const child = spawn(process.execPath, ['--experimental-websocket', '-e', HELPER_SCRIPT, url], { stdio: ['pipe', 'pipe', 'inherit'] });
  child.unref();
  (child.stdout as unknown as { unref(): void }).unref();
  (child.stdin as unknown as { unref(): void }).unref();
  const lines = createInterface({ input: child.stdout });
  const waiting: ((line: string) => void)[] = [];
  lines.on('line', (line) => waiting.shift()?.(line));
  const nextLine = (what: string): Promise<string> =>
    withTimeout(new Promise<string>((resolve) => waiting.push(resolve)), timeoutMs, `inspector ${what}`);
  const opened = await nextLine('connection');
  if (opened !== 'open') throw new Error(`inspector helper: ${opened}`);
  return {
    async collect() {
      const answer = nextLine('collection');
      child.stdin.write('gc\n');
      const line = await answer;
      if (line !== 'ok') throw new Error(`HeapProfiler.collectGarbage: ${line}`);
    },
  };
}

/**
 * Returns a function that collects garbage in `pid` and resolves when V8 is
 * done. The inspector is opened, and the helper started, on the first call.
 */
export function inspectorGc(pid: number, logFile: string, timeoutMs = 15_000): () => Promise<void> {
  let helper: Promise<{ collect(): Promise<void> }> | undefined;
  return async () => {
    helper ??= openInspector(pid, logFile, timeoutMs).then((url) => startHelper(url, timeoutMs));
    await (await helper).collect();
  };
}
