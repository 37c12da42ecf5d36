// The worker entry when task modules are TypeScript (tests, `npm run dev`,
// or a user's .ts tasks in production). Node 20 ignores --import in a
// worker's execArgv, so tsx registers its hooks here before the real entry
// (workerData.entry) is imported.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { default: handle } = await import(workerData.entry);
export default handle;
