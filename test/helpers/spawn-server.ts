import { spawn, type ChildProcess } from 'node:child_process';

export interface SpawnedServer {
  child: ChildProcess;
  /** "host:port" from the ready line. */
  address: string;
  /** Everything printed to stdout so far. */
  stdout: () => string;
  stderr: () => string;
  /** SIGTERM, then waits for the exit. */
  stop: () => Promise<void>;
}

/**
 * Starts an offload server as a child process (`command` is what follows the
 * executable: a script and its flags) and resolves once it prints its ready
 * line; rejects with its stderr if it exits first.
 */
export function spawnServer(
  command: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; executable?: string } = {},
): Promise<SpawnedServer> {
  const child = spawn(options.executable ?? process.execPath, command, {
    cwd: options.cwd,
    env: { ...process.env, OFFLOAD_LOG_LEVEL: 'info', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // A process group of its own, so stop() reaches the server behind a launcher
    // such as npx, which does not pass SIGTERM on to the command it runs.
    detached: true,
  });
  let out = '';
  let err = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) process.kill(-child.pid!, 'SIGTERM');
    await exited;
    // The launcher may exit before the server it started: wait until the whole group is gone.
    await waitForGroupExit(child.pid!);
  };
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /listening on (\S+:\d+)/.exec(out);
      if (match) resolve({ child, address: match[1]!, stdout: () => out, stderr: () => err, stop });
    });
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before it was ready:\n${err}${out}`)));
  });
}

/** Resolves once no process of the group is left (signal 0 finds none); SIGKILLs what remains after 10 s, and gives up a second later. */
async function waitForGroupExit(group: number): Promise<void> {
  const alive = (): boolean => {
    try {
      process.kill(-group, 0);
      return true;
    } catch {
      return false;
    }
  };
  for (let waited = 0; alive() && waited < 11_000; waited += 50) {
    if (waited === 10_000) process.kill(-group, 'SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
