// A local HTTP endpoint standing in for an alert webhook (Slack, a pager): records every accepted
// POST, and answers 500 while `failing()` says so.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  path: string;
  body: Record<string, unknown>;
  at: number;
}

async function readBody(request: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of request) text += String(chunk);
  return text;
}

export async function webhookServer(failing: () => boolean = () => false): Promise<{
  url: string;
  received: Received[];
  refused: number;
  server: Server;
}> {
  const state = { received: [] as Received[], refused: 0 };
  const server = createServer(async (request, response) => {
    const text = await readBody(request);
    if (failing()) {
      state.refused++;
      response.writeHead(500).end('down');
      return;
    }
    state.received.push({
      path: request.url ?? '',
      body: JSON.parse(text) as Record<string, unknown>,
      at: performance.now(),
    });
    response.writeHead(200).end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get received() {
      return state.received;
    },
    get refused() {
      return state.refused;
    },
    server,
  };
}
