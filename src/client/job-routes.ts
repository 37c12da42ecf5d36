/**
 * Where calls about a job go. A job lives on the replica that admitted it,
 * so when the target names several replicas, every call about one job must
 * reach the same one: the replica its id hashes to (pick-replica.ts), over a
 * channel of its own opened on first use. Other calls keep the shared
 * channel's round robin, as does everything when there is one address.
 *
 * An `ipv4:`/`ipv6:` list is hashed as written. A `dns:` name is looked up
 * (all its addresses, as grpc-js's resolver does) and hashed over what it
 * returns, looked up again at most every 30 s; TLS still checks the name.
 * Any other target (`host:port`, `unix:`) is one address.
 */
import type { ChannelOptions } from '@grpc/grpc-js';
import { lookup } from 'node:dns/promises';
import { openGrpcClient, type GrpcClient, type GrpcClientOptions, type OpenedClient } from './grpc-client.js';
import { pickReplica } from './pick-replica.js';
import { dnsName, listedReplicas, resolvedReplica, type DnsName, type Replica } from './target-addresses.js';

export interface JobRoutes {
  /** The client for calls about `jobId`. */
  clientFor(jobId: string): Promise<GrpcClient>;
  close(): void;
}

/** grpc-js's own shortest interval between two resolutions of a name. */
const RESOLVE_EVERY_MS = 30_000;

export function createJobRoutes(target: string, shared: GrpcClient, options: GrpcClientOptions): JobRoutes {
  const listed = listedReplicas(target);
  const name = dnsName(target);
  // A replica dialled by its IP still presents the name's certificate and expects the name as :authority.
  const channelOptions: ChannelOptions = name ? { 'grpc.default_authority': `${name.host}:${name.port}`, 'grpc.ssl_target_name_override': name.host } : {};
  const opened = new Map<string, OpenedClient>();
  let closed = false;
  let resolved: { at: number; replicas: Promise<Replica[]> } | undefined;

  const replicas = (): Promise<Replica[]> | Replica[] => {
    if (listed || !name) return listed ?? [];
    if (!resolved || Date.now() - resolved.at >= RESOLVE_EVERY_MS) resolved = { at: Date.now(), replicas: resolve(name) };
    return resolved.replicas;
  };

  return {
    async clientFor(jobId) {
      const all = await replicas();
      if (all.length < 2 || closed) return shared;
      const key = pickReplica(jobId, all.map((replica) => replica.key));
      let client = opened.get(key);
      if (!client) {
        client = openGrpcClient(all.find((replica) => replica.key === key)!.target, options, channelOptions);
        opened.set(key, client);
      }
      return client.grpc;
    },
    close() {
      closed = true;
      for (const client of opened.values()) client.channel.close();
      opened.clear();
    },
  };
}

async function resolve({ host, port }: DnsName): Promise<Replica[]> {
  try {
    const found = await lookup(host, { all: true });
    const replicas = new Map(found.map(({ address, family }) => [resolvedReplica(address, family, port).key, resolvedReplica(address, family, port)]));
    return [...replicas.values()];
  } catch {
    // The shared channel then fails the call in grpc-js's words, which the CLI knows how to explain.
    return [];
  }
}
