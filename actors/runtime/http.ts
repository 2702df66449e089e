// The operator HTTP surface of `sluice run`: /health (the process answers), /ready (200 only when
// every readiness condition holds, else 503 with the reasons) and /metrics (Prometheus text).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface Readiness {
  ready: boolean;
  /** What is not ready yet; empty when ready. */
  reasons: string[];
}

export interface OperatorHttp {
  readonly port: number;
  close(): Promise<void>;
}

export async function startOperatorHttp(options: {
  port: number;
  /** Default 127.0.0.1: /metrics and /ready are for this machine unless the config opens them. */
  host?: string;
  readiness: () => Readiness;
  registry: Registry;
}): Promise<OperatorHttp> {
  const server: Server = createServer((request, response) => {
    const json = (status: number, body: unknown) =>
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/health') return json(200, { status: 'up' });
    if (path === '/ready') {
      const readiness = options.readiness();
      return json(readiness.ready ? 200 : 503, readiness);
    }
    if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => response.writeHead(200, { 'content-type': options.registry.contentType }).end(text),
        (error: Error) => response.writeHead(500).end(error.message),
      );
      return;
    }
    json(404, { error: 'not found', paths: ['/health', '/ready', '/metrics'] });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
