// The worker entry when task modules are TypeScript (tests, `npm run dev`,
// or a user's .ts tasks in production). Node 20 ignores --import in a
// worker's execArgv, so tsx registers its hooks here before the real entry
// (workerData.entry) is imported. Both hooks: a .ts file outside a
// "type": "module" package is CommonJS to tsx, and needs its require hook.
import { workerData } from 'node:worker_threads';
import { register as registerCommonJs } from 'tsx/cjs/api';
import { register as registerEsm } from 'tsx/esm/api';

registerCommonJs();
registerEsm();
const { default: handle } = await import(workerData.entry);
export default handle;
