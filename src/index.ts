/**
 * offload as a library: the client, the server, and the error type they share.
 * Task authors import from 'offload/task'.
 */
export { createComputeClient } from './client/create-compute-client.js';
export type { CallOptionsIn, ComputeClient, ComputeClientOptions, RetryOptions } from './client/create-compute-client.js';
export type { TlsOptions, Pem } from './client/channel-credentials.js';
export type { BatchEvent, BatchItem, Json, RunEvent, RunPriority, TaskInfo, TaskResult } from './client/events.js';
export type { JobCallOptions, JobHandle, SubmitOptions, SubmittedJob } from './client/job-handle.js';
export type { JobFailure, JobInfo, JobState } from './client/job-events.js';
export { OffloadError, Status } from './errors.js';
export { loadConfig, ConfigError, type Config } from './config.js';
export { createComputeServer, ListenError, type ComputeServer, type ServerOptions } from './server/create-compute-server.js';
