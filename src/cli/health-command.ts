/** `offload health [--service NAME] [--json]`: asks grpc.health.v1; exits 0 when SERVING, 1 otherwise. */
import { createChannel, createClient } from 'nice-grpc';
import { HealthDefinition } from 'nice-grpc-server-health';
import { HealthCheckResponse_ServingStatus as ServingStatus } from 'nice-grpc-server-health/lib/proto/grpc/health/v1/health.js';
import { createChannelCredentials } from '../client/channel-credentials.js';
import { CLIENT_USAGE, clientTarget, parseCommandArgs, stringFlag } from './client-flags.js';
import { explainCallError } from './explain-call-error.js';

export const HEALTH_USAGE = `Usage: offload health [--service NAME] [--json]

  --service NAME     ask about one service (default: the server as a whole)
  --json             print {"status":"SERVING"} instead of the bare status

${CLIENT_USAGE}
`;

export async function healthCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, { service: { type: 'string' }, json: { type: 'boolean' } }, 'offload health');
  if (values['help']) {
    process.stdout.write(HEALTH_USAGE);
    return 0;
  }
  const { address, options } = clientTarget(values);
  const channel = createChannel(address, createChannelCredentials(options.tls));
  try {
    const { status } = await createClient(HealthDefinition, channel).check(
      { service: stringFlag(values, 'service') ?? '' },
      { signal: AbortSignal.timeout(10_000) },
    );
    const name = ServingStatus[status] ?? String(status);
    process.stdout.write(values['json'] ? `${JSON.stringify({ status: name })}\n` : `${name}\n`);
    return status === ServingStatus.SERVING ? 0 : 1;
  } catch (error) {
    throw explainCallError(error, { address, tls: options.tls !== undefined, timeoutMessage: `no answer from ${address} within 10 s` });
  } finally {
    channel.close();
  }
}
