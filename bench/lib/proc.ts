/**
 * What the kernel knows about a server: CPU time and resident memory of a
 * process and all its descendants (Python's pool workers are processes;
 * offload's are threads of one process), read from /proc.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

function getconf(name: string, fallback: number): number {
  try {
    const value = Number(execFileSync('getconf', [name], { encoding: 'utf8', timeout: 5000 }).trim());
    return Number.isFinite(value) && value > 0 ? value : fallback;
  } catch {
    return fallback;
  }
}

const CLK_TCK = getconf('CLK_TCK', 100);
const PAGE_SIZE = getconf('PAGESIZE', 4096);

interface Stat {
  ppid: number;
  /** user + system CPU, in ms */
  cpuMs: number;
  rssBytes: number;
}

/** Fields of /proc/PID/stat (or /proc/PID/task/TID/stat); undefined when the process is gone. */
function readStat(path: string): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); field n is fields[n - 3].
  const ppid = Number(fields[1]);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  const rssPages = Number(fields[21]);
  return { ppid, cpuMs: ((utime + stime) * 1000) / CLK_TCK, rssBytes: rssPages * PAGE_SIZE };
}

/** pid and every process below it. */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(`/proc/${entry}/stat`);
    if (!stat) continue;
    const list = children.get(stat.ppid) ?? [];
    list.push(Number(entry));
    children.set(stat.ppid, list);
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(children.get(tree[i]!) ?? []));
  return tree;
}

export interface ProcSample {
  at: number;
  /** CPU of the whole tree (every thread of every process), ms */
  cpuMs: number;
  /** CPU of the main thread of the root process only (a Node server's event loop), ms */
  mainThreadMs: number;
  /** resident memory of the whole tree, bytes */
  rssBytes: number;
  processes: number;
}

/** One reading of a server's process tree. */
export function sampleProcess(pid: number, tree: number[] = processTree(pid)): ProcSample {
  let cpuMs = 0;
  let rssBytes = 0;
  let processes = 0;
  for (const p of tree) {
    const stat = readStat(`/proc/${p}/stat`);
    if (!stat) continue;
    processes++;
    cpuMs += stat.cpuMs;
    rssBytes += stat.rssBytes;
  }
  const main = readStat(`/proc/${pid}/task/${pid}/stat`);
  return { at: performance.now(), cpuMs, mainThreadMs: main?.cpuMs ?? 0, rssBytes, processes };
}

/** Resident memory of a tree, sampled every `everyMs` until stopped: start, peak and end. */
export function watchRss(pid: number, everyMs = 50): { stop(): { startBytes: number; peakBytes: number; endBytes: number } } {
  const tree = processTree(pid);
  const startBytes = sampleProcess(pid, tree).rssBytes;
  let peakBytes = startBytes;
  const timer = setInterval(() => {
    peakBytes = Math.max(peakBytes, sampleProcess(pid, tree).rssBytes);
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const endBytes = sampleProcess(pid, tree).rssBytes;
      peakBytes = Math.max(peakBytes, endBytes);
      return { startBytes, peakBytes, endBytes };
    },
  };
}

/** CPU time every core of the machine spent busy (user, nice, system, irq, softirq, steal) since boot, ms. */
export function machineBusyMs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return (((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * 1000) / CLK_TCK;
}

/**
 * Watches how busy the machine is apart from a server and this process:
 * `stop()` returns the cores other processes used meanwhile (noise).
 */
export function watchForeignLoad(serverPid: number): { stop(): number } {
  const tree = processTree(serverPid);
  const t0 = performance.now();
  const busy0 = machineBusyMs();
  const server0 = sampleProcess(serverPid, tree).cpuMs;
  const self0 = process.cpuUsage();
  return {
    stop() {
      const wall = performance.now() - t0;
      const self = process.cpuUsage(self0);
      const ours = sampleProcess(serverPid, tree).cpuMs - server0 + (self.user + self.system) / 1000;
      return Math.max(0, (machineBusyMs() - busy0 - ours) / wall);
    },
  };
}
