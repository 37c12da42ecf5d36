/** `offload tasks [--json]`: the tasks a server runs, with their input fields. */
import { createComputeClient } from '../client/create-compute-client.js';
import type { TaskInfo } from '../client/events.js';
import { CLIENT_USAGE, clientTarget, parseCommandArgs } from './client-flags.js';
import { explainCallError } from './explain-call-error.js';

export const TASKS_USAGE = `Usage: offload tasks [--json]\n\n${CLIENT_USAGE}\n`;

export async function tasksCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, { json: { type: 'boolean' } }, 'offload tasks');
  if (values['help']) {
    process.stdout.write(TASKS_USAGE);
    return 0;
  }
  const { address, options } = clientTarget(values);
  const client = createComputeClient(address, { ...options, retry: false });
  try {
    const tasks = await client.listTasks({ deadline: 10_000 });
    if (values['json']) process.stdout.write(`${JSON.stringify(tasks, null, 2)}\n`);
    else process.stdout.write(table(['TASK', 'INPUT', 'DESCRIPTION'], tasks.map((t) => [t.name, describeInput(t), t.description])));
    return 0;
  } catch (error) {
    throw explainCallError(error, { address, tls: options.tls !== undefined, timeoutMessage: `no answer from ${address} within 10 s` });
  } finally {
    client.close();
  }
}

/** "ms: integer 0..60000, steps?: integer 1..10000 = 10" from a JSON Schema. */
export function describeInput(task: TaskInfo): string {
  const schema = task.inputSchema as { properties?: Record<string, Record<string, unknown>>; required?: string[]; type?: string };
  if (!schema.properties) return schema.type ? String(schema.type) : 'any';
  const required = new Set(schema.required ?? []);
  const fields = Object.entries(schema.properties).map(([name, field]) => {
    const range = field['minimum'] !== undefined || field['maximum'] !== undefined ? ` ${keyword(field['minimum'] ?? '')}..${keyword(field['maximum'] ?? '')}` : '';
    const fallback = field['default'] !== undefined ? ` = ${JSON.stringify(field['default'])}` : '';
    return `${name}${required.has(name) ? '' : '?'}: ${keyword(field['type'] ?? 'any')}${range}${fallback}`;
  });
  return fields.length ? fields.join(', ') : '{}';
}

/**
 * A schema keyword's value as text. The schema comes from the server, so a
 * value may be an object (an ajv `{ $data }` reference): shown as JSON, not
 * "[object Object]". A `type` list shows as "string,null".
 */
function keyword(value: unknown): string {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? JSON.stringify(value) : String(value);
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return `${[header, ...rows].map(line).join('\n')}\n`;
}
