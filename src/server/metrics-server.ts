import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { DashboardRoutes } from '../dashboard/dashboard-routes.js';

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/** Serves the registry as Prometheus text at GET /metrics, and the dashboard when given; anything else is 404. */
export async function startMetricsServer(registry: Registry, host: string, port: number, dashboard?: DashboardRoutes): Promise<MetricsServer> {
  const server: Server = createServer((request, response) => {
    if (dashboard?.handle(request, response)) return;
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain' }).end(`not found; try GET /metrics${dashboard ? ', or GET / for the dashboard' : ''}\n`);
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) => response.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(error)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => {
      dashboard?.close();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
