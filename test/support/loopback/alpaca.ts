// TEST FIXTURE: a loopback Alpaca market-data server on a free 127.0.0.1 port. It speaks Alpaca's
// documented market-data protocol so the real adapter and Alpaca's real SDK can be tested without
// the internet:
// - WebSocket stream v2 (/v2/iex, /v2/sip) and the news stream (/v1beta1/news): on connect
//   [{"T":"success","msg":"connected"}]; {"action":"auth","key","secret"} answered with
//   [{"T":"success","msg":"authenticated"}] or [{"T":"error","code":402,"msg":"auth failed"}];
//   {"action":"subscribe","trades":[..],"quotes":[..],"bars":[..]} (or "news") answered with
//   [{"T":"subscription",...}]; frames in arrays. msgpack, as the SDK asks for market data (its
//   stream client has no JSON mode), with times as the msgpack timestamp extension.
// - REST v2 /v2/stocks/{symbol}/bars|trades|quotes and /v1beta1/news with start/end (inclusive),
//   limit, sort and page_token / next_page_token, APCA-API-KEY-ID / APCA-API-SECRET-KEY headers.
// It serves real data: SPY minute bars from ../shared/data/spy-minute-pyalgotrade (through the
// project's reader, core/datasets.ts: UTC bar-close times, see that folder's PROVENANCE.txt) and
// stocknet tweets as news items.
//
// The live streams play a timeline: once something subscribes, one item per tick goes to every
// connection subscribed to its symbol, and the playhead moves on whether or not anybody listens
// (the market does not wait for a reconnect). REST serves history up to "now": before the stream
// starts, everything (a closed market); once it plays, only what it has played, so a backfill after
// a reconnect reads the gap and no further, as it would on Alpaca.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { decode, EXT_TIMESTAMP, ExtData, encode, encodeTimeSpecToTimestamp } from '@msgpack/msgpack';
import { type WebSocket, WebSocketServer } from 'ws';
import { readDatasetFile } from '../../../core/dataset-files.ts';
import { ninjaTraderMinuteFile, stocknetTweetFile } from '../../../core/datasets.ts';
import type { Bar } from '../../../schemas/messages.ts';

const DATA = join(import.meta.dirname, '../../../../shared/data');
export const SPY_MINUTE_FILE = join(DATA, 'spy-minute-pyalgotrade/ninjatrader_spy_minute_2011-01.csv');
export const STOCKNET_TWEETS_FILE = join(DATA, 'stocknet/tweets_2014-2016.csv.gz');
const MINUTE_MS = 60_000;

/** A minute bar as Alpaca's REST API writes it; `t` is the bar's start. */
export interface AlpacaBarItem {
  readonly t: string;
  readonly o: number;
  readonly h: number;
  readonly l: number;
  readonly c: number;
  readonly v: number;
}

/** A news item as Alpaca's REST API and news stream write it. */
export interface AlpacaNewsItem {
  readonly id: number;
  readonly headline: string;
  readonly author: string;
  readonly created_at: string;
  readonly updated_at: string;
  readonly summary: string;
  readonly content: string;
  readonly url: string;
  readonly symbols: readonly string[];
  readonly source: string;
}

/** The first `limit` SPY minute bars of the source file, as the project's reader maps them. */
export async function readSpyBars(limit = Number.POSITIVE_INFINITY): Promise<Bar[]> {
  const bars: Bar[] = [];
  for await (const row of readDatasetFile(ninjaTraderMinuteFile(SPY_MINUTE_FILE))) {
    if (row.kind !== 'bar') throw new Error(`SPY file row ${row.row}: ${row.kind}`);
    bars.push(row.event);
    if (bars.length >= limit) break;
  }
  return bars;
}

/** A source bar (ts_event = close) as the Alpaca item for the minute it starts. */
export function alpacaBar(bar: Bar): AlpacaBarItem {
  return {
    t: new Date(bar.ts_event - MINUTE_MS).toISOString().replace('.000Z', 'Z'),
    o: bar.open,
    h: bar.high,
    l: bar.low,
    c: bar.close,
    v: bar.volume,
  };
}

/**
 * The first `limit` stocknet tweets as Alpaca news items: one item per tweet, naming every symbol the
 * source lists it under; ids 1, 2, ... in the file's order (Alpaca's news ids are small integers,
 * a tweet id is beyond 2^53).
 */
export async function readStocknetNews(limit: number): Promise<AlpacaNewsItem[]> {
  const byTweet = new Map<string, { createdAt: number; headline: string; symbols: string[] }>();
  for await (const row of readDatasetFile(stocknetTweetFile(STOCKNET_TWEETS_FILE))) {
    if (row.kind !== 'news') continue;
    const tweet = row.event.id.slice(row.event.id.lastIndexOf(':') + 1);
    const known = byTweet.get(tweet);
    if (known) {
      if (!known.symbols.includes(row.event.symbol)) known.symbols.push(row.event.symbol);
      continue;
    }
    // One more than asked: the last tweet's symbols are complete once a later tweet starts.
    if (byTweet.size > limit) break;
    byTweet.set(tweet, {
      createdAt: row.event.ts_event,
      headline: row.event.headline,
      symbols: [row.event.symbol],
    });
  }
  return [...byTweet.entries()].slice(0, limit).map(([tweet, item], index) => {
    const at = new Date(item.createdAt).toISOString().replace('.000Z', 'Z');
    return {
      id: index + 1,
      headline: item.headline,
      author: 'stocknet',
      created_at: at,
      updated_at: at,
      summary: '',
      content: '',
      url: `https://twitter.com/i/web/status/${tweet}`,
      symbols: item.symbols,
      source: 'twitter',
    };
  });
}

export interface AlpacaLoopbackOptions {
  readonly keyId: string;
  readonly secretKey: string;
  /** Minute bars per symbol, oldest first. */
  readonly bars?: Readonly<Record<string, readonly AlpacaBarItem[]>>;
  /** News items, oldest first. */
  readonly news?: readonly AlpacaNewsItem[];
  /** Stream push rate: one item of each timeline every this many ms. */
  readonly tickMs?: number;
}

type Channel = 'trades' | 'quotes' | 'bars' | 'news';
type Frame = Record<string, unknown>;

interface Connection {
  readonly socket: WebSocket;
  readonly kind: 'stocks' | 'news';
  authenticated: boolean;
  silent: boolean;
  readonly subscriptions: Record<Channel, Set<string>>;
}

/** A stream timeline: its items in time order and how far the market has got. */
interface Timeline {
  readonly items: readonly { symbol: string | readonly string[]; frame: Frame }[];
  readonly channel: Channel;
  next: number;
}

export interface RestRequest {
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly status: number;
  /** performance.now() when it arrived. */
  readonly at: number;
}

export interface AlpacaLoopback {
  /** http://127.0.0.1:<port>: the REST base URL. */
  readonly dataUrl: string;
  /** ws://127.0.0.1:<port>: the stream host (stocks at /v2/<feed>, news at /v1beta1/news). */
  readonly streamUrl: string;
  /** Every REST request so far, in order. */
  readonly requests: readonly RestRequest[];
  /** Data frames sent on the streams so far. */
  framesSent(): number;
  /** Open stream connections. */
  connections(): number;
  /** Cut every stream connection (no close handshake) once `frames` more data frames went out. */
  dropAfter(frames: number): void;
  /**
   * The open connections go silent: they stay open and get nothing more (a dead socket), while the
   * market moves on. Connections made later are served.
   */
  silenceOpenConnections(): void;
  /** Sends these frames, msgpack-encoded as one message, to every authenticated stocks connection. */
  inject(frames: unknown, kind?: 'stocks' | 'news'): void;
  /** Sends bytes that are not msgpack to every authenticated connection of that kind. */
  injectBytes(bytes: Uint8Array, kind?: 'stocks' | 'news'): void;
  /** The next `count` REST requests answer 429 with `Retry-After: retryAfterS`. */
  rateLimitNext(count: number, retryAfterS?: number): void;
  /** Refuses every credential from now on (stream auth and REST). */
  rejectCredentials(reject: boolean): void;
  /** Resolves once the timeline has played to its end. */
  played(channel: 'bars' | 'news'): Promise<void>;
  close(): Promise<void>;
}

/** An RFC-3339 time as the msgpack timestamp extension Alpaca sends on its streams. */
export function timestampExt(iso: string): ExtData {
  const ms = Date.parse(iso);
  return new ExtData(
    EXT_TIMESTAMP,
    encodeTimeSpecToTimestamp({ sec: Math.floor(ms / 1000), nsec: (ms % 1000) * 1_000_000 }),
  );
}

export async function startAlpacaLoopback(options: AlpacaLoopbackOptions): Promise<AlpacaLoopback> {
  const barsBySymbol = options.bars ?? {};
  const news = options.news ?? [];
  const barFrames = Object.entries(barsBySymbol)
    .flatMap(([symbol, bars]) => bars.map((bar) => ({ symbol, frame: { T: 'b', S: symbol, ...bar } })))
    .sort((a, b) => Date.parse(a.frame.t) - Date.parse(b.frame.t));
  const timelines: Record<'bars' | 'news', Timeline> = {
    bars: { items: barFrames, channel: 'bars', next: 0 },
    news: {
      items: news.map((item) => ({ symbol: item.symbols, frame: { T: 'n', ...item } })),
      channel: 'news',
      next: 0,
    },
  };
  const requests: RestRequest[] = [];
  const connections = new Set<Connection>();
  const tickMs = options.tickMs ?? 5;
  let dropAt: number | undefined;
  let sent = 0;
  let limited = 0;
  let retryAfter = 1;
  let rejecting = false;
  let started = false;
  let timer: ReturnType<typeof setInterval> | undefined;
  const waiters: { channel: 'bars' | 'news'; resolve: () => void }[] = [];

  const credentialsOk = (key: unknown, secret: unknown) =>
    !rejecting && key === options.keyId && secret === options.secretKey;

  const send = (connection: Connection, frames: unknown) => {
    if (connection.socket.readyState === connection.socket.OPEN) connection.socket.send(encode(frames));
  };

  const tick = () => {
    for (const timeline of Object.values(timelines)) {
      const item = timeline.items[timeline.next];
      if (!item) continue;
      timeline.next++;
      const symbols = typeof item.symbol === 'string' ? [item.symbol] : item.symbol;
      const frame = { ...item.frame };
      if (timeline.channel === 'bars') frame.t = timestampExt(frame.t as string);
      for (const connection of connections) {
        const wanted = connection.subscriptions[timeline.channel];
        if (
          connection.silent ||
          !connection.authenticated ||
          !symbols.some((symbol) => wanted.has(symbol) || wanted.has('*'))
        )
          continue;
        send(connection, [frame]);
        sent++;
        if (dropAt !== undefined && sent >= dropAt) {
          dropAt = undefined;
          for (const open of connections) open.socket.terminate();
        }
      }
      if (timeline.next === timeline.items.length) {
        for (const waiter of waiters.filter((w) => w.channel === timeline.channel)) waiter.resolve();
      }
    }
  };

  const onMessage = (connection: Connection, data: Buffer, binary: boolean) => {
    let message: unknown;
    try {
      message = binary ? decode(data) : JSON.parse(data.toString('utf8'));
    } catch {
      send(connection, [{ T: 'error', code: 400, msg: 'invalid syntax' }]);
      return;
    }
    const action = typeof message === 'object' && message !== null ? (message as Frame).action : undefined;
    if (action === 'auth') {
      const { key, secret } = message as Frame;
      if (connection.authenticated)
        send(connection, [{ T: 'error', code: 403, msg: 'already authenticated' }]);
      else if (credentialsOk(key, secret)) {
        connection.authenticated = true;
        send(connection, [{ T: 'success', msg: 'authenticated' }]);
      } else send(connection, [{ T: 'error', code: 402, msg: 'auth failed' }]);
      return;
    }
    if (action !== 'subscribe' && action !== 'unsubscribe') {
      send(connection, [{ T: 'error', code: 400, msg: 'invalid syntax' }]);
      return;
    }
    if (!connection.authenticated) {
      send(connection, [{ T: 'error', code: 401, msg: 'not authenticated' }]);
      return;
    }
    const channels: readonly Channel[] = connection.kind === 'news' ? ['news'] : ['trades', 'quotes', 'bars'];
    for (const channel of channels) {
      const symbols = (message as Frame)[channel];
      if (!Array.isArray(symbols)) continue;
      for (const symbol of symbols) {
        if (action === 'subscribe') connection.subscriptions[channel].add(String(symbol));
        else connection.subscriptions[channel].delete(String(symbol));
      }
    }
    const answer: Frame = { T: 'subscription' };
    for (const channel of channels) answer[channel] = [...connection.subscriptions[channel]];
    send(connection, [answer]);
    if (!started) {
      started = true;
      timer = setInterval(tick, tickMs);
    }
  };

  const server = createServer((request, response) => serveRest(request, response));
  const wss = new WebSocketServer({ noServer: true });
  server.on('upgrade', (request, socket, head) => {
    const path = new URL(request.url ?? '/', 'http://loopback').pathname;
    const kind = /^\/v2\/(iex|sip|delayed_sip)$/.test(path)
      ? 'stocks'
      : path === '/v1beta1/news'
        ? 'news'
        : undefined;
    if (!kind) {
      socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
      return;
    }
    wss.handleUpgrade(request, socket, head, (ws) => {
      const connection: Connection = {
        socket: ws,
        kind,
        authenticated: false,
        silent: false,
        subscriptions: { trades: new Set(), quotes: new Set(), bars: new Set(), news: new Set() },
      };
      connections.add(connection);
      ws.on('message', (data: Buffer, binary: boolean) => onMessage(connection, data, binary));
      ws.on('close', () => connections.delete(connection));
      ws.on('error', () => connections.delete(connection));
      send(connection, [{ T: 'success', msg: 'connected' }]);
    });
  });

  /** The time of the last item the stream played ("now" for REST); no limit before it starts. */
  function playedUntil(channel: 'bars' | 'news'): number {
    if (!started) return Number.POSITIVE_INFINITY;
    const { items, next } = timelines[channel];
    const last = items[next - 1]?.frame;
    if (!last) return Number.NEGATIVE_INFINITY;
    return Date.parse(String(channel === 'bars' ? last.t : last.created_at));
  }

  function json(
    response: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) {
    response.writeHead(status, { 'content-type': 'application/json', ...headers });
    response.end(JSON.stringify(body));
  }

  function serveRest(request: IncomingMessage, response: ServerResponse) {
    const url = new URL(request.url ?? '/', 'http://loopback');
    const query = Object.fromEntries(url.searchParams);
    const record = (status: number) =>
      requests.push({ path: url.pathname, query, status, at: performance.now() });
    if (limited > 0) {
      limited--;
      record(429);
      json(response, 429, { message: 'too many requests' }, { 'Retry-After': String(retryAfter) });
      return;
    }
    if (!credentialsOk(request.headers['apca-api-key-id'], request.headers['apca-api-secret-key'])) {
      record(401);
      json(response, 401, { code: 40110000, message: 'request is not authorized' });
      return;
    }
    const limit = Number(query.limit ?? 1000);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) {
      record(422);
      json(response, 422, { code: 42210000, message: `invalid limit: ${query.limit}` });
      return;
    }
    const start = query.start ? Date.parse(query.start) : Number.NEGATIVE_INFINITY;
    const end = query.end ? Date.parse(query.end) : Number.POSITIVE_INFINITY;
    const offset = query.page_token ? Number(Buffer.from(query.page_token, 'base64url').toString('utf8')) : 0;
    const pageOf = <T>(items: readonly T[]) => {
      const page = items.slice(offset, offset + limit);
      const next =
        offset + limit < items.length
          ? Buffer.from(String(offset + limit), 'utf8').toString('base64url')
          : null;
      return { page, next };
    };
    const stock = /^\/v2\/stocks\/([^/]+)\/(bars|trades|quotes)$/.exec(url.pathname);
    if (stock) {
      const symbol = decodeURIComponent(stock[1] ?? '');
      const kind = stock[2] as 'bars' | 'trades' | 'quotes';
      const source = kind === 'bars' ? (barsBySymbol[symbol] ?? []) : [];
      const until = playedUntil('bars');
      const inSpan = source.filter((item) => {
        const at = Date.parse(item.t);
        return at >= start && at <= end && at <= until;
      });
      if (query.sort === 'desc') inSpan.reverse();
      const { page, next } = pageOf(inSpan);
      record(200);
      json(response, 200, { [kind]: page, symbol, next_page_token: next });
      return;
    }
    if (url.pathname === '/v1beta1/news') {
      if (limit > 50) {
        record(422);
        json(response, 422, { code: 42210000, message: 'limit must be at most 50' });
        return;
      }
      const symbols = new Set((query.symbols ?? '').split(',').filter(Boolean));
      const until = playedUntil('news');
      const inSpan = news.filter((item) => {
        const at = Date.parse(item.created_at);
        const named = symbols.size === 0 || item.symbols.some((s) => symbols.has(s));
        return at >= start && at <= end && at <= until && named;
      });
      // Alpaca's news endpoint answers newest first unless asked for sort=asc.
      if (query.sort !== 'asc') inSpan.reverse();
      const { page, next } = pageOf(inSpan);
      record(200);
      json(response, 200, { news: page, next_page_token: next });
      return;
    }
    record(404);
    json(response, 404, { message: 'not found' });
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    dataUrl: `http://127.0.0.1:${port}`,
    streamUrl: `ws://127.0.0.1:${port}`,
    requests,
    framesSent: () => sent,
    connections: () => connections.size,
    dropAfter(frames) {
      dropAt = sent + frames;
    },
    silenceOpenConnections() {
      for (const connection of connections) connection.silent = true;
    },
    inject(frames, kind = 'stocks') {
      for (const connection of connections)
        if (connection.authenticated && connection.kind === kind) send(connection, frames);
    },
    injectBytes(bytes, kind = 'stocks') {
      for (const connection of connections)
        if (connection.authenticated && connection.kind === kind) connection.socket.send(bytes);
    },
    rateLimitNext(count, retryAfterS = 1) {
      limited = count;
      retryAfter = retryAfterS;
    },
    rejectCredentials(value) {
      rejecting = value;
    },
    played(channel) {
      const timeline = timelines[channel];
      if (timeline.next >= timeline.items.length) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ channel, resolve }));
    },
    async close() {
      if (timer) clearInterval(timer);
      for (const connection of connections) connection.socket.terminate();
      wss.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
