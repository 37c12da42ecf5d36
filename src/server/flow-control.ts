import http2 from 'node:http2';

/**
 * HTTP/2 receive windows for every connection the server accepts. Node's
 * default (and grpc-js's: it sets none) is 64 KiB per stream and per
 * connection, so a client sending an 8 MiB request stops every 64 KiB and
 * waits a round trip for WINDOW_UPDATE; on loopback that alone held uploads
 * to about 220 MB/s (bench/notes.md). grpc-js reads every DATA frame as it
 * arrives and buffers the message up to --max-message-bytes either way, so a
 * larger window adds no memory a client could not already make us hold.
 */
export const STREAM_WINDOW_BYTES = 16 * 1024 * 1024;
export const CONNECTION_WINDOW_BYTES = 32 * 1024 * 1024;

type CreateServer = typeof http2.createServer;
type CreateSecureServer = typeof http2.createSecureServer;

let active = 0;
let originals: { createServer: CreateServer; createSecureServer: CreateSecureServer } | undefined;

/**
 * Runs `listen` (which makes grpc-js create its http2 server) with
 * http2.createServer and createSecureServer wrapped to add the windows.
 * grpc-js exposes no option for them and nice-grpc hides the grpc-js server,
 * so the wrap is the one place to set them. It is undone when the last
 * `listen` in progress settles (servers started side by side share it).
 */
export async function withReceiveWindows<T>(listen: () => Promise<T>): Promise<T> {
  const module = http2 as { createServer: CreateServer; createSecureServer: CreateSecureServer };
  if (active++ === 0) {
    const { createServer, createSecureServer } = module;
    originals = { createServer, createSecureServer };
    module.createServer = widen((options) => createServer(options)) as CreateServer;
    module.createSecureServer = widen((options) => createSecureServer(options)) as CreateSecureServer;
  }
  try {
    return await listen();
  } finally {
    if (--active === 0 && originals) {
      module.createServer = originals.createServer;
      module.createSecureServer = originals.createSecureServer;
      originals = undefined;
    }
  }
}

function widen<S extends http2.Http2Server | http2.Http2SecureServer>(create: (options: http2.ServerOptions) => S) {
  return (options: http2.ServerOptions = {}): S => {
    const server = create({ ...options, settings: { ...options.settings, initialWindowSize: STREAM_WINDOW_BYTES } });
    server.on('session', (session: http2.ServerHttp2Session) => {
      // A connection torn down before this runs keeps the default window; it is going away anyway.
      if (!session.destroyed) session.setLocalWindowSize(CONNECTION_WINDOW_BYTES);
    });
    return server;
  };
}
