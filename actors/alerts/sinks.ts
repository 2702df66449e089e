// Webhook sinks for alerts: one HTTP POST per alert, as the alert itself (generic JSON) or as a
// Slack-compatible message. A sink retries 5xx, 408, 429 and network errors with exponential backoff
// for at most `retryBudgetMs`, then gives up with SinkUnavailable so the caller leaves the alert
// unacknowledged; other 4xx answers are permanent (retrying the same body cannot help).
import type { Alert } from '../../schemas/messages.ts';

export type AlertSeverity = Alert['severity'];
export type SinkFormat = 'json' | 'slack';

export interface WebhookSinkConfig {
  name: string;
  url: string;
  format: SinkFormat;
  /** Severities routed to this sink. */
  severities: readonly AlertSeverity[];
  /** Deliveries per minute at most; a busy sink delays alerts rather than dropping them. */
  maxPerMinute?: number;
  /** First retry delay, doubled per attempt up to `maxBackoffMs`. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Time one alert may spend retrying before the sink reports itself unavailable. */
  retryBudgetMs?: number;
  requestTimeoutMs?: number;
}

/** The sink kept failing for its whole retry budget; the alert must be retried later. */
export class SinkUnavailable extends Error {
  override name = 'SinkUnavailable';
}

/** The sink refused the request for good (e.g. 400): retrying would not help. */
export class SinkRejected extends Error {
  override name = 'SinkRejected';
}

const SLACK_COLOURS: Record<AlertSeverity, string> = {
  info: '#2eb886',
  warning: '#daa038',
  critical: '#a30200',
};

export function alertPayload(alert: Alert, format: SinkFormat): unknown {
  if (format === 'json') return alert;
  const labels = Object.entries(alert.labels ?? {}).map(([title, value]) => ({
    title,
    value: String(value),
    short: true,
  }));
  return {
    text: `[${alert.severity.toUpperCase()}] ${alert.code} from ${alert.source}: ${alert.message}`,
    attachments: [
      {
        color: SLACK_COLOURS[alert.severity],
        fields: labels,
        footer: alert.id,
        ts: Math.floor(alert.ts_event / 1000),
      },
    ],
  };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Token bucket over the wall clock with one second of burst; `take` waits for a token. */
class RateLimiter {
  private readonly burst: number;
  private tokens: number;
  private last = performance.now();

  constructor(private readonly perMinute: number) {
    this.burst = Math.max(1, Math.ceil(perMinute / 60));
    this.tokens = this.burst;
  }

  async take(signal?: AbortSignal): Promise<void> {
    for (;;) {
      const now = performance.now();
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.perMinute) / 60_000);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      if (signal?.aborted) throw new SinkUnavailable('stopping');
      await sleep(((1 - this.tokens) * 60_000) / this.perMinute, signal);
    }
  }
}

export interface SinkStats {
  delivered: number;
  attempts: number;
  failures: number;
  rejected: number;
}

export class WebhookSink {
  readonly stats: SinkStats = { delivered: 0, attempts: 0, failures: 0, rejected: 0 };
  private readonly limiter: RateLimiter | undefined;

  constructor(readonly config: WebhookSinkConfig) {
    this.limiter = config.maxPerMinute ? new RateLimiter(config.maxPerMinute) : undefined;
  }

  /** Delivers or throws SinkUnavailable / SinkRejected; `signal` cuts retries short on shutdown. */
  async deliver(alert: Alert, signal?: AbortSignal): Promise<void> {
    const { config } = this;
    await this.limiter?.take(signal);
    const body = JSON.stringify(alertPayload(alert, config.format));
    const deadline = performance.now() + (config.retryBudgetMs ?? 15_000);
    let backoff = config.initialBackoffMs ?? 200;
    let lastProblem = '';
    for (;;) {
      this.stats.attempts++;
      try {
        const response = await fetch(config.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(config.requestTimeoutMs ?? 5_000),
        });
        await response.arrayBuffer();
        if (response.ok) {
          this.stats.delivered++;
          return;
        }
        lastProblem = `HTTP ${response.status}`;
        if (response.status < 500 && response.status !== 408 && response.status !== 429) {
          this.stats.rejected++;
          throw new SinkRejected(`${config.name} refused alert ${alert.id}: ${lastProblem}`);
        }
      } catch (error) {
        if (error instanceof SinkRejected) throw error;
        lastProblem = (error as Error).message;
      }
      this.stats.failures++;
      if (signal?.aborted || performance.now() + backoff > deadline) {
        throw new SinkUnavailable(`${config.name} unavailable for alert ${alert.id}: ${lastProblem}`);
      }
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, config.maxBackoffMs ?? 5_000);
    }
  }
}
