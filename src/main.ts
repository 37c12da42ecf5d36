/**
 * Process entry for the server: `node dist/src/main.js [flags]`, what
 * `npm start` runs. The same as `offload serve [flags]`.
 */
import { serve } from './cli/serve.js';

await serve(process.argv.slice(2));
