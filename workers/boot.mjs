// piscina's entry in each worker when module loading must be prepared before
// the real entry (workerData.entry) is imported: when task modules are
// TypeScript, and when tasks live outside offload (they import
// 'offload/task', which must resolve to this offload wherever they are).
// Plain JavaScript, shipped as is: it runs before any TypeScript loader.
import { workerData } from 'node:worker_threads';
import { resolveOffloadSpecifiers } from './offload-specifiers.mjs';

if (workerData.typescript) {
  // Node 20 ignores --import in a worker's execArgv, so tsx registers here.
  // Both hooks: a .ts file outside a "type": "module" package is CommonJS to
  // tsx, and needs its require hook.
  const [{ register: registerCommonJs }, { register: registerEsm }] = await Promise.all([import('tsx/cjs/api'), import('tsx/esm/api')]);
  registerCommonJs();
  registerEsm();
  // Loading tsx tries to reach a \`tsx watch\` parent over a Unix socket, which
  // fails when there is none; the failed socket is closed by this thread's
  // event loop. Let the loop turn (the error arrives in the next iteration's
  // pending phase) before piscina parks the idle worker in Atomics.wait, or
  // each new worker holds the socket until its first task.
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
}
// After tsx, so these hooks run first and a bare 'offload/task' never reaches
// a node_modules lookup from the task's own directory.
if (workerData.offloadModules) resolveOffloadSpecifiers(workerData.offloadModules);
const { default: handle } = await import(workerData.entry);
export default handle;
