// TEST FIXTURE: the HTTP server and WebSocket server beside it that a loopback venue listens with, on
// a free port of 127.0.0.1, and their close (every socket dropped, as a venue going away would).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { type WebSocket, WebSocketServer } from 'ws';

export interface LoopbackListener {
  readonly http: Server;
  readonly wss: WebSocketServer;
  readonly port: number;
}

export interface LoopbackHandlers {
  onRequest(request: IncomingMessage, response: ServerResponse): void;
  /** Whether an upgrade is taken now; one that is not has its socket destroyed. */
  acceptsUpgrade(request: IncomingMessage): boolean;
  onSocket(socket: WebSocket): void;
}

export async function listenOnLoopback(handlers: LoopbackHandlers): Promise<LoopbackListener> {
  const http = createServer((request, response) => handlers.onRequest(request, response));
  const wss = new WebSocketServer({ noServer: true });
  http.on('upgrade', (request, socket, head) => {
    if (!handlers.acceptsUpgrade(request)) {
      socket.destroy();
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => handlers.onSocket(ws));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const address = http.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { http, wss, port };
}

export async function closeLoopback({ http, wss }: LoopbackListener): Promise<void> {
  for (const socket of wss.clients) socket.terminate();
  await new Promise<void>((resolve) => wss.close(() => resolve()));
  http.closeAllConnections();
  await new Promise<void>((resolve) => http.close(() => resolve()));
}
