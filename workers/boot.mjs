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
}
// After tsx, so these hooks run first and a bare 'offload/task' never reaches
// a node_modules lookup from the task's own directory.
if (workerData.offloadModules) resolveOffloadSpecifiers(workerData.offloadModules);
const { default: handle } = await import(workerData.entry);
export default handle;
