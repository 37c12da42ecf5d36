import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';

export interface TcpProxy {
  /** host:port to dial instead of the upstream. */
  readonly address: string;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Reads from the upstream so far: about how many socket writes the upstream made, on a quiet loopback. */
  readonly upstreamReads: number;
  /** Cuts every open connection, as a crashed replica or a lost network would; new ones still get through. */
  drop(): void;
  /** Sends new connections to another upstream port (a replica replaced at the same address). */
  retarget(port: number): void;
  /** Closes the next `count` connections as soon as they arrive, before any byte. */
  refuse(count: number): void;
  close(): Promise<void>;
}

/** A TCP proxy on loopback in front of `upstreamPort`: a connection the test can break for real. */
export async function startTcpProxy(upstreamPort: number): Promise<TcpProxy> {
  let upstream = upstreamPort;
  let connections = 0;
  let upstreamReads = 0;
  let refusals = 0;
  const open = new Set<Socket>();
  const server = createServer((client) => {
    connections++;
    if (refusals > 0) {
      refusals--;
      client.destroy();
      return;
    }
    const backend = createConnection(upstream, '127.0.0.1');
    backend.on('data', () => upstreamReads++);
    for (const [socket, other] of [
      [client, backend],
      [backend, client],
    ] as const) {
      open.add(socket);
      socket.on('error', () => other.destroy());
      socket.on('close', () => (open.delete(socket), other.destroy()));
      socket.pipe(other);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    get connections() {
      return connections;
    },
    get upstreamReads() {
      return upstreamReads;
    },
    drop: () => open.forEach((socket) => socket.destroy()),
    retarget: (port) => void (upstream = port),
    refuse: (count) => void (refusals = count),
    close: async () => {
      open.forEach((socket) => socket.destroy());
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
