/**
 * The ComputeService definition the server registers: the generated one,
 * except that a RunBatch item that cannot be decoded does not end the call.
 * grpc-js would end the stream with INTERNAL while nice-grpc still writes to
 * it, and the status would never reach the client; instead the item arrives
 * marked, and fails alone with INVALID_ARGUMENT.
 */
import { ComputeServiceDefinition, RunBatchRequest } from '../gen/offload/v1/compute.js';

const UNDECODABLE = Symbol('undecodable');

type MaybeUndecodable = RunBatchRequest & { [UNDECODABLE]?: string };

function decodeBatchItem(bytes: Uint8Array): RunBatchRequest {
  try {
    return RunBatchRequest.decode(bytes);
  } catch (error) {
    const item: MaybeUndecodable = { id: '', task: '', input: undefined, data: Buffer.alloc(0), noCache: false, priority: 0 };
    item[UNDECODABLE] = error instanceof Error ? error.message : String(error);
    return item;
  }
}

/** Why the item could not be decoded, or undefined for a well-formed item. */
export function undecodable(item: RunBatchRequest): string | undefined {
  return (item as MaybeUndecodable)[UNDECODABLE];
}

export const ServedComputeServiceDefinition = {
  ...ComputeServiceDefinition,
  methods: {
    ...ComputeServiceDefinition.methods,
    runBatch: {
      ...ComputeServiceDefinition.methods.runBatch,
      requestType: { ...RunBatchRequest, decode: decodeBatchItem },
    },
  },
} as const;
