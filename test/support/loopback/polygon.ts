// TEST FIXTURE: a loopback Polygon.io (Massive) stocks server, HTTP and WebSocket on one free
// 127.0.0.1 port, speaking the documented protocol so the real adapter and the real client library
// (@massive.com/client-js) run against it unchanged:
// - WebSocket at /stocks: `[{"ev":"status","status":"connected"}]` on open; `{"action":"auth","params":
//   key}` answered `auth_success` or `auth_failed` (then closed); `{"action":"subscribe","params":
//   "AM.SPY,T.SPY"}` answered one `success` "subscribed to: X" per param; AM frames pushed after that.
// - REST: GET /v2/aggs/ticker/{t}/range/1/minute/{from}/{to} (from/to inclusive bar starts, ms or
//   YYYY-MM-DD) over the bars the market has played, with `next_url` pagination, the `apiKey` query
//   parameter checked on every request, HTTP 429 with Retry-After on demand; /v3/trades/{t} and
//   /v3/quotes/{t} answer empty pages (the data here is minute bars only).
// The data is REAL: SPY minute bars of January 2011 (../shared/data/spy-minute-pyalgotrade), read by
// the project's one reader (core/datasets.ts), whose times are UTC bar closes (see its PROVENANCE.txt).
// The "market" advances through the bars at a push rate from the first subscription on, whether or
// not anyone listens, so a dropped connection misses bars that a backfill must find.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { type WebSocket, WebSocketServer } from 'ws';
import { ninjaTraderMinuteFile, parseDatasetText } from '../../../core/datasets.ts';
import type { Bar } from '../../../schemas/messages.ts';
import { repoRoot } from '../cli.ts';

export const SPY_MINUTE_FILE = join(
  repoRoot,
  '..',
  'shared',
  'data',
  'spy-minute-pyalgotrade',
  'ninjatrader_spy_minute_2011-01.csv',
);

/** A Polygon minute aggregate as the socket sends it (AM), from one source bar. */
export interface AggregateFrame {
  readonly ev: 'AM';
  readonly sym: string;
  readonly v: number;
  readonly o: number;
  readonly c: number;
  readonly h: number;
  readonly l: number;
  /** Bar start and end, epoch ms. */
  readonly s: number;
  readonly e: number;
}

/** The source bars (ts_event = close) of the real SPY file, oldest first. */
export function spyMinuteBars(): Bar[] {
  const rows = parseDatasetText(
    ninjaTraderMinuteFile(SPY_MINUTE_FILE),
    readFileSync(SPY_MINUTE_FILE, 'utf8'),
  );
  return rows.flatMap((row) => (row.kind === 'bar' ? [row.event] : []));
}

export function aggregateFrame(bar: Bar): AggregateFrame {
  return {
    ev: 'AM',
    sym: bar.symbol,
    v: bar.volume,
    o: bar.open,
    c: bar.close,
    h: bar.high,
    l: bar.low,
    s: bar.ts_event - 60_000,
    e: bar.ts_event,
  };
}

export interface LoopbackPolygonOptions {
  readonly apiKey: string;
  /** The bars the market plays, oldest first. */
  readonly bars: readonly Bar[];
  /** AM frames pushed per second (default 500). */
  readonly framesPerSecond?: number;
  /** Largest REST page whatever `limit` asks (Polygon caps at 50,000); small to force pagination. */
  readonly pageSize?: number;
  /** Listen here (a provider coming up where a feed already dials); a free port when absent. */
  readonly port?: number;
}

const TICK_MS = 10;

export class LoopbackPolygon {
  /** REST calls answered, by status. */
  readonly restCalls = { ok: 0, rateLimited: 0, unauthorized: 0 };
  /** WebSocket connections opened. */
  connections = 0;
  /** Index of the next bar the market plays. */
  position = 0;
  private readonly subscribed = new Map<WebSocket, Set<string>>();
  private market: NodeJS.Timeout | undefined;
  private dropAfterFrames: number | undefined;
  private silent = false;
  private rateLimitLeft = 0;
  private passingBeforeLimit = 0;
  private retryAfterSeconds = 0;
  private keyRejected = false;

  private constructor(
    private readonly options: LoopbackPolygonOptions,
    private readonly http: Server,
    private readonly sockets: WebSocketServer,
    readonly port: number,
  ) {}

  static async start(options: LoopbackPolygonOptions): Promise<LoopbackPolygon> {
    const http = createServer();
    const sockets = new WebSocketServer({ server: http, path: '/stocks' });
    await new Promise<void>((resolve) => http.listen(options.port ?? 0, '127.0.0.1', resolve));
    const address = http.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const server = new LoopbackPolygon(options, http, sockets, port);
    http.on('request', (request, response) => server.answer(request, response));
    sockets.on('connection', (socket) => server.accept(socket));
    return server;
  }

  get restBase(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get wsBase(): string {
    return `ws://127.0.0.1:${this.port}`;
  }

  /** Closes every live connection after `frames` more AM frames (the market goes on). */
  dropAfter(frames: number): void {
    this.dropAfterFrames = frames;
  }

  /** Silence: the market moves on but nothing is sent while on. */
  setSilent(silent: boolean): void {
    this.silent = silent;
  }

  /**
   * After `passing` more REST requests, the next `calls` answer HTTP 429 with this Retry-After
   * (seconds). `passing` 1 refuses the page the client follows from the first page's next_url.
   */
  rateLimitNext(calls: number, retryAfterSeconds = 0, passing = 0): void {
    this.rateLimitLeft = calls;
    this.retryAfterSeconds = retryAfterSeconds;
    this.passingBeforeLimit = passing;
  }

  /** Every key is refused from now on (a revoked key). */
  rejectKey(rejected = true): void {
    this.keyRejected = rejected;
  }

  /** Sends `text` as is to every subscribed socket: malformed, out-of-order or duplicate frames. */
  inject(text: string): void {
    for (const socket of this.subscribed.keys()) socket.send(text);
  }

  /** Drops every live connection now. */
  dropAll(): void {
    for (const socket of this.sockets.clients) socket.terminate();
  }

  /** The market jumps to its end: every bar has happened (for REST-only tests). */
  playAll(): void {
    this.position = this.options.bars.length;
  }

  /** Resolves once the market has played every bar. */
  async played(): Promise<void> {
    while (this.position < this.options.bars.length)
      await new Promise((resolve) => setTimeout(resolve, TICK_MS));
  }

  async close(): Promise<void> {
    clearInterval(this.market);
    for (const socket of this.sockets.clients) socket.terminate();
    await new Promise<void>((resolve) => this.sockets.close(() => resolve()));
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private accept(socket: WebSocket): void {
    this.connections += 1;
    let authenticated = false;
    socket.send(JSON.stringify([{ ev: 'status', status: 'connected', message: 'Connected Successfully' }]));
    socket.on('message', (data) => {
      let message: { action?: unknown; params?: unknown };
      try {
        message = JSON.parse(String(data)) as typeof message;
      } catch {
        socket.send(JSON.stringify([{ ev: 'status', status: 'error', message: 'invalid message' }]));
        return;
      }
      if (message.action === 'auth') {
        if (message.params === this.options.apiKey && !this.keyRejected) {
          authenticated = true;
          socket.send(JSON.stringify([{ ev: 'status', status: 'auth_success', message: 'authenticated' }]));
        } else {
          socket.send(
            JSON.stringify([{ ev: 'status', status: 'auth_failed', message: 'authentication failed' }]),
          );
          socket.close(1008, 'authentication failed');
        }
      } else if (message.action === 'subscribe' && typeof message.params === 'string') {
        if (!authenticated) {
          socket.send(JSON.stringify([{ ev: 'status', status: 'error', message: 'not authorized' }]));
          return;
        }
        const params = message.params.split(',').filter((param) => param !== '');
        const unknown = params.find((param) => !/^(T|Q|AM|A)\.[A-Z.]+$/.test(param));
        if (unknown !== undefined) {
          socket.send(
            JSON.stringify([{ ev: 'status', status: 'error', message: `unknown channel: ${unknown}` }]),
          );
          return;
        }
        const topics = this.subscribed.get(socket) ?? new Set<string>();
        for (const param of params) topics.add(param);
        this.subscribed.set(socket, topics);
        socket.send(
          JSON.stringify(
            params.map((param) => ({ ev: 'status', status: 'success', message: `subscribed to: ${param}` })),
          ),
        );
        this.market ??= setInterval(() => this.advance(), TICK_MS);
      }
    });
    socket.on('close', () => this.subscribed.delete(socket));
  }

  /** Plays the bars due in one tick: each to the sockets subscribed to AM.<symbol>. */
  private advance(): void {
    const due = Math.max(1, Math.round(((this.options.framesPerSecond ?? 500) * TICK_MS) / 1000));
    const end = Math.min(this.position + due, this.options.bars.length);
    for (; this.position < end; this.position++) {
      const bar = this.options.bars[this.position] as Bar;
      if (this.silent) continue;
      const frame = JSON.stringify([aggregateFrame(bar)]);
      for (const [socket, topics] of this.subscribed) if (topics.has(`AM.${bar.symbol}`)) socket.send(frame);
      if (this.dropAfterFrames !== undefined && --this.dropAfterFrames <= 0) {
        this.dropAfterFrames = undefined;
        this.dropAll();
      }
    }
    if (this.position >= this.options.bars.length) clearInterval(this.market);
  }

  private answer(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', this.restBase);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      response.writeHead(status, { 'content-type': 'application/json', ...headers });
      response.end(JSON.stringify(body));
    };
    if (url.searchParams.get('apiKey') !== this.options.apiKey || this.keyRejected) {
      this.restCalls.unauthorized += 1;
      send(401, { status: 'ERROR', request_id: 'loopback', error: 'Unknown API Key' });
      return;
    }
    if (this.rateLimitLeft > 0 && this.passingBeforeLimit > 0) this.passingBeforeLimit -= 1;
    else if (this.rateLimitLeft > 0) {
      this.rateLimitLeft -= 1;
      this.restCalls.rateLimited += 1;
      send(
        429,
        {
          status: 'ERROR',
          request_id: 'loopback',
          error: "You've exceeded the maximum requests per minute.",
        },
        { 'retry-after': String(this.retryAfterSeconds) },
      );
      return;
    }
    const aggs = /^\/v2\/aggs\/ticker\/([^/]+)\/range\/(\d+)\/([a-z]+)\/([^/]+)\/([^/]+)$/.exec(url.pathname);
    if (aggs) {
      const [, ticker = '', multiplier, timespan, from = '', to = ''] = aggs;
      if (multiplier !== '1' || timespan !== 'minute') {
        send(400, { status: 'ERROR', request_id: 'loopback', error: 'this loopback serves 1/minute only' });
        return;
      }
      this.restCalls.ok += 1;
      send(200, this.aggregatesPage(ticker, decodeURIComponent(from), decodeURIComponent(to), url));
      return;
    }
    if (/^\/v3\/(trades|quotes)\/[^/]+$/.test(url.pathname)) {
      this.restCalls.ok += 1;
      send(200, { results: [], status: 'OK', request_id: 'loopback' });
      return;
    }
    send(404, { status: 'NOT_FOUND', request_id: 'loopback', message: 'Not found' });
  }

  /** One page of bars whose start is in [from, to]; `next_url` names the rest, from the next start on. */
  private aggregatesPage(ticker: string, from: string, to: string, url: URL): Record<string, unknown> {
    const cursor = url.searchParams.get('cursor');
    const query = new URLSearchParams(cursor ? Buffer.from(cursor, 'base64url').toString() : url.search);
    const limit = Math.min(Number(query.get('limit') ?? 5000), this.options.pageSize ?? 50_000);
    const [fromMs, toMs] = [startOf(from), startOf(to, true)];
    // Only what has happened: the bars the market has played.
    const matching = this.options.bars
      .slice(0, this.position)
      .filter((bar) => bar.symbol === ticker)
      .map((bar) => ({ bar, start: bar.ts_event - 60_000 }))
      .filter(({ start }) => start >= fromMs && start <= toMs);
    const page = matching.slice(0, limit);
    const results = page.map(({ bar, start }) => ({
      v: bar.volume,
      o: bar.open,
      c: bar.close,
      h: bar.high,
      l: bar.low,
      t: start,
    }));
    const body: Record<string, unknown> = {
      ticker,
      queryCount: results.length,
      resultsCount: results.length,
      adjusted: query.get('adjusted') !== 'false',
      results,
      status: 'OK',
      request_id: 'loopback',
      count: results.length,
    };
    const rest = matching[limit];
    if (rest) {
      const next = Buffer.from(`limit=${limit}&adjusted=${body.adjusted}&sort=asc`).toString('base64url');
      body.next_url = `${this.restBase}/v2/aggs/ticker/${ticker}/range/1/minute/${rest.start}/${to}?cursor=${next}`;
    }
    return body;
  }
}

/** Epoch ms of a from/to path segment: a millisecond timestamp, or a date (its whole day for `to`). */
function startOf(segment: string, endOfDay = false): number {
  if (/^\d+$/.test(segment)) return Number(segment);
  const day = Date.parse(`${segment}T00:00:00Z`);
  return endOfDay ? day + 86_400_000 - 1 : day;
}
