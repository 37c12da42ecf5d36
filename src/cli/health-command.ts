/** `offload health [--service NAME]`: asks grpc.health.v1; exits 0 when SERVING, 1 otherwise. */
import { createChannel, createClient } from 'nice-grpc';
import { HealthDefinition } from 'nice-grpc-server-health';
import { HealthCheckResponse_ServingStatus as ServingStatus } from 'nice-grpc-server-health/lib/proto/grpc/health/v1/health.js';
import { createChannelCredentials } from '../client/channel-credentials.js';
import { CLIENT_USAGE, clientTarget, parseCommandArgs, stringFlag } from './client-flags.js';

export const HEALTH_USAGE = `Usage: offload health [--service NAME]\n\n${CLIENT_USAGE}\n`;

export async function healthCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, { service: { type: 'string' } }, 'offload health');
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
    process.stdout.write(`${name}\n`);
    return status === ServingStatus.SERVING ? 0 : 1;
  } finally {
    channel.close();
  }
}
