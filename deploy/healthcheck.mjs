// The container's HEALTHCHECK (deploy/Dockerfile): asks offload's
// grpc.health.v1.Health/Check, as a balancer or a Kubernetes gRPC probe
// would, and exits 0 when the answer is SERVING, 1 otherwise (NOT_SERVING
// while draining, refused, timed out).
//
//   node deploy/healthcheck.mjs [HOST:PORT] [SERVICE]
//
// The address defaults to 127.0.0.1 and $OFFLOAD_PORT (50051): in a container,
// set the port with OFFLOAD_PORT rather than --port so the probe follows it.
// SERVICE defaults to "" (the whole server). Plaintext only: with --tls-cert,
// replace the HEALTHCHECK. Uses only runtime dependencies (nice-grpc and
// nice-grpc-server-health), so it works after `npm ci --omit=dev`.
import { createChannel, createClient } from 'nice-grpc';
import { HealthDefinition } from 'nice-grpc-server-health';

const SERVING = 1; // grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING
const STATUS_NAMES = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

const target = process.argv[2] ?? `127.0.0.1:${process.env.OFFLOAD_PORT || '50051'}`;
const service = process.argv[3] ?? '';
const timeoutMs = Number(process.env.OFFLOAD_HEALTHCHECK_TIMEOUT_MS || 3000);

const channel = createChannel(target);
try {
  const { status } = await createClient(HealthDefinition, channel).check({ service }, { signal: AbortSignal.timeout(timeoutMs) });
  console.log(`${target}: ${STATUS_NAMES[status] ?? status}`);
  process.exitCode = status === SERVING ? 0 : 1;
} catch (error) {
  console.log(`${target}: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  channel.close();
}
