import http2 from 'node:http2';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createComputeServer, type ComputeServer } from '../../src/server/create-compute-server.js';
import { CONNECTION_WINDOW_BYTES, STREAM_WINDOW_BYTES } from '../../src/server/flow-control.js';
import { eventually } from '../helpers/eventually.js';
import { captureLogger } from '../helpers/capture-logger.js';
import { collect, connect } from '../helpers/client.js';

let server: ComputeServer | undefined;
afterEach(async () => server?.close());

describe('--max-connection-age-ms', () => {
  it('moves clients to new connections while a stream on the old one finishes within the grace', async () => {
    const log = captureLogger();
    const config = loadConfig(['--port', '0', '--workers', '2', '--max-connection-age-ms', '300', '--max-connection-age-grace-ms', '5000'], {});
    server = await createComputeServer(config, { logger: log.logger });
    const { client, close } = connect(server.address);
    try {
      await client.run({ task: 'echo', input: 'first' });
      // Outlives the connection's age: the server sends GOAWAY but lets it finish.
      const events = await collect(client.runStream({ task: 'spin', input: { ms: 800, steps: 4 } }));
      expect(events.at(-1)?.result?.output).toEqual({ ms: 800 });
      await sleep(100);
      await client.run({ task: 'echo', input: 'later' });
      const peers = log.lines.filter((l) => l['method'] === '/offload.v1.ComputeService/Run').map((l) => l['peer']);
      expect(peers).toHaveLength(2);
      expect(peers[0]).not.toBe(peers[1]);
    } finally {
      close();
    }
  });
});

describe('HTTP/2 receive windows', () => {
  it('lets a client send 16 MiB on a stream and 32 MiB on a connection before waiting for a window update', async () => {
    server = await createComputeServer(loadConfig(['--port', '0', '--workers', '1'], {}));
    const session = http2.connect(`http://${server.address}`);
    session.on('error', () => {}); // the server closing it at the end of the test is expected
    try {
      const settings = await new Promise<http2.Settings>((resolve) => session.once('remoteSettings', resolve));
      expect(settings.initialWindowSize).toBe(STREAM_WINDOW_BYTES);
      await eventually(() => expect(session.state.remoteWindowSize).toBe(CONNECTION_WINDOW_BYTES));
      // Node's own default, which grpc-js would otherwise leave in place: a round trip every 64 KiB.
      expect(http2.getDefaultSettings().initialWindowSize).toBe(65_535);
    } finally {
      session.destroy();
    }
  });
});

describe('HTTP/2 receive windows, servers started side by side', () => {
  it('gives every server the windows and leaves http2.createServer as it found it', async () => {
    const createServer = http2.createServer;
    const servers = await Promise.all([1, 2].map(() => createComputeServer(loadConfig(['--port', '0', '--workers', '1'], {}))));
    try {
      expect(http2.createServer).toBe(createServer);
      for (const started of servers) {
        const session = http2.connect(`http://${started.address}`);
        session.on('error', () => {});
        try {
          const settings = await new Promise<http2.Settings>((resolve) => session.once('remoteSettings', resolve));
          expect(settings.initialWindowSize).toBe(STREAM_WINDOW_BYTES);
        } finally {
          session.destroy();
        }
      }
    } finally {
      await Promise.all(servers.map((s) => s.close()));
    }
  });
});
