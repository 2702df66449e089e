// The subject map: every subject Sluice publishes or consumes, which stream keeps it and which
// message contracts travel on it. Subject builders, stream definitions and the AsyncAPI document
// are all derived from this table.
import type { MessageName } from './messages.ts';

export type StreamName = 'MARKET' | 'FEATURES' | 'SIGNALS' | 'ORDERS' | 'ALERTS' | 'DEADLETTER' | 'RAW';

export interface SubjectSpec {
  /** AsyncAPI-style address with {parameters}. */
  readonly address: string;
  readonly messages: readonly MessageName[];
  /** null for request/reply subjects that no stream keeps. */
  readonly stream: StreamName | null;
  readonly description: string;
}

export const subjectSpecs = {
  tick: {
    address: 'md.tick.{partition}.{symbol}',
    messages: ['trade_tick', 'quote_tick'],
    stream: 'MARKET',
    description: 'Trades and quotes, partitioned by a hash of the symbol.',
  },
  bar: {
    address: 'md.bar.{partition}.{symbol}',
    messages: ['bar'],
    stream: 'MARKET',
    description: 'Ready-made bars from a feed or file (daily and minute OHLCV).',
  },
  news: {
    address: 'md.news.{partition}.{symbol}',
    messages: ['news_item'],
    stream: 'MARKET',
    description: 'News headlines and posts about a symbol.',
  },
  sentiment: {
    address: 'md.sentiment.{partition}.{symbol}',
    messages: ['sentiment_score'],
    stream: 'MARKET',
    description: 'Sentiment scored by the news actor or an outside provider.',
  },
  feature: {
    address: 'feat.{symbol}',
    messages: ['feature_vector'],
    stream: 'FEATURES',
    description: 'Feature vectors, published by the feature actor once it is live.',
  },
  signal: {
    address: 'sig.{strategy}.{symbol}',
    messages: ['signal'],
    stream: 'SIGNALS',
    description: 'Model signals; only the risk gate consumes them.',
  },
  orderIntent: {
    address: 'ord.intent.{symbol}',
    messages: ['order_intent', 'order_intent_v1'],
    stream: 'ORDERS',
    description: 'Orders that passed the risk gate; only the risk gate publishes here.',
  },
  orderCancel: {
    address: 'ord.cancel.{symbol}',
    messages: ['control_command'],
    stream: 'ORDERS',
    description:
      'Cancels of working orders that the risk gate sends the execution actor when it halts, in order with the intents.',
  },
  riskDecision: {
    address: 'risk.decision.{symbol}',
    messages: ['risk_decision'],
    stream: 'ORDERS',
    description: 'Every risk decision, pass or deny, with the values checked.',
  },
  orderEvent: {
    address: 'exec.order.{symbol}',
    messages: ['order_event'],
    stream: 'ORDERS',
    description: 'Order state changes.',
  },
  fill: {
    address: 'exec.fill.{symbol}',
    messages: ['fill'],
    stream: 'ORDERS',
    description: 'Executions.',
  },
  reconciliation: {
    address: 'exec.reconcile.{venue}',
    messages: ['reconciliation'],
    stream: 'ORDERS',
    description:
      "The execution actor's reconciliations with its venue; the risk gate stays halted until one is clean.",
  },
  portfolio: {
    address: 'pf.snapshot.{account}',
    messages: ['portfolio_snapshot'],
    stream: 'ORDERS',
    description: 'Positions, cash, equity and exposure after each fill or mark.',
  },
  alert: {
    address: 'alert.{severity}.{code}',
    messages: ['alert'],
    stream: 'ALERTS',
    description: 'Alerts for operators and alert sinks.',
  },
  control: {
    address: 'ctl.{actor}.{command}',
    messages: ['control_command', 'control_reply'],
    stream: null,
    description: 'Operator request/reply: the request is a control_command, the reply a control_reply.',
  },
  rawFrame: {
    address: 'raw.{provider}.{channel}',
    messages: ['feed_frame'],
    stream: 'RAW',
    description: 'Frames a live feed received, recorded with `sluice feed --record` for replay.',
  },
  deadLetter: {
    address: 'dlq.{original_subject}',
    messages: ['dead_letter'],
    stream: 'DEADLETTER',
    description: 'Messages that could not be processed, with the reason and the original subject.',
  },
} as const satisfies Record<string, SubjectSpec>;

export type SubjectKind = keyof typeof subjectSpecs;

/** Stream name -> subject filters it captures (the first token of each address, then `>`). */
export function streamSubjects(stream: StreamName, namespace = ''): string[] {
  const roots = new Set<string>();
  for (const spec of Object.values(subjectSpecs) as SubjectSpec[]) {
    if (spec.stream !== stream) continue;
    const literalTokens = spec.address.split('.').filter((token) => !token.startsWith('{'));
    roots.add(`${namespace}${literalTokens[0]}.>`);
  }
  return [...roots];
}

export const streamNames: readonly StreamName[] = [
  'MARKET',
  'FEATURES',
  'SIGNALS',
  'ORDERS',
  'ALERTS',
  'DEADLETTER',
  'RAW',
];

// Characters a NATS subject token may not contain, plus our escape character itself.
const UNSAFE_TOKEN_CHAR = /[.*>\s~/\\]/;
const UNSAFE_TOKEN_CHARS = new RegExp(UNSAFE_TOKEN_CHAR.source, 'g');
const TILDE = 0x7e;
const HEX_DIGITS = '0123456789abcdef';

/**
 * Encodes a symbol as one subject token. Symbols like `BRK.B` or `GBP/USD` hold characters a token
 * cannot, so each is written as ~XX (hex); the message body keeps the real symbol.
 */
export function symbolToken(symbol: string): string {
  return symbol.replace(UNSAFE_TOKEN_CHARS, (char) => `~${char.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** For each ASCII code, 1 when symbolToken escapes it: the pattern asked once, not per character. */
const ESCAPED_ASCII = Uint8Array.from({ length: 128 }, (_, code) =>
  UNSAFE_TOKEN_CHAR.test(String.fromCharCode(code)) ? 1 : 0,
);

/** Whether symbolToken escapes this UTF-16 code unit. */
function escapedInToken(code: number): boolean {
  return code < 128 ? ESCAPED_ASCII[code] === 1 : UNSAFE_TOKEN_CHAR.test(String.fromCharCode(code));
}

/**
 * Whether `subject.slice(from, to)` is `symbolToken(value)`, compared in place: consumers check every
 * message's subject against its body, and building the token (or caching one per symbol a hostile
 * publisher invents) would cost per message.
 */
export function isTokenOf(subject: string, from: number, to: number, value: string): boolean {
  let at = from;
  for (let index = 0; index < value.length; index++) {
    const code = value.charCodeAt(index);
    if (!escapedInToken(code)) {
      if (at >= to || subject.charCodeAt(at++) !== code) return false;
      continue;
    }
    // `~` then the code in lower-case hex, at least two digits (as symbolToken's padStart).
    const digits = code < 0x100 ? 2 : code < 0x1000 ? 3 : 4;
    if (at + digits >= to || subject.charCodeAt(at++) !== TILDE) return false;
    for (let shift = (digits - 1) * 4; shift >= 0; shift -= 4) {
      if (subject.charCodeAt(at++) !== HEX_DIGITS.charCodeAt((code >> shift) & 15)) return false;
    }
  }
  return at === to;
}

/** FNV-1a over the symbol: stable across processes and languages, so every publisher agrees. */
export function partitionOf(symbol: string, partitions: number): number {
  // The offset basis as a signed 32-bit integer (same bits), so the engine keeps `hash` an int32.
  let hash = 0x811c9dc5 | 0;
  for (let index = 0; index < symbol.length; index++) {
    hash ^= symbol.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}

/**
 * Builds concrete subjects. A namespace (e.g. `bt.<run>.`) prefixes every subject so that a
 * backtest over NATS can never publish on live order subjects.
 */
export class Subjects {
  constructor(
    readonly partitions: number,
    readonly namespace = '',
  ) {
    if (!Number.isInteger(partitions) || partitions < 1) {
      throw new RangeError(`partitions must be a positive integer, got ${partitions}`);
    }
  }

  // Subjects are built for every event of a replay: each symbol's are computed once, one map per kind.
  private readonly tickSubjects = new Map<string, string>();
  private readonly barSubjects = new Map<string, string>();
  private readonly newsSubjects = new Map<string, string>();
  private readonly sentimentSubjects = new Map<string, string>();
  private readonly tokens = new Map<string, string>();

  private market(
    known: Map<string, string>,
    kind: 'tick' | 'bar' | 'news' | 'sentiment',
    symbol: string,
  ): string {
    let subject = known.get(symbol);
    if (subject === undefined) {
      subject = `${this.namespace}md.${kind}.${partitionOf(symbol, this.partitions)}.${this.token(symbol)}`;
      known.set(symbol, subject);
    }
    return subject;
  }

  private token(symbol: string): string {
    let token = this.tokens.get(symbol);
    if (token === undefined) {
      token = symbolToken(symbol);
      this.tokens.set(symbol, token);
    }
    return token;
  }

  tick(symbol: string): string {
    return this.market(this.tickSubjects, 'tick', symbol);
  }
  bar(symbol: string): string {
    return this.market(this.barSubjects, 'bar', symbol);
  }
  news(symbol: string): string {
    return this.market(this.newsSubjects, 'news', symbol);
  }
  sentiment(symbol: string): string {
    return this.market(this.sentimentSubjects, 'sentiment', symbol);
  }
  /** Filter for one kind of market data over a set of partitions (one consumer per partition set). */
  marketFilter(kind: 'tick' | 'bar' | 'news' | 'sentiment' | '*', partition: number | '*' = '*'): string {
    return `${this.namespace}md.${kind}.${partition}.>`;
  }
  feature(symbol: string): string {
    return `${this.namespace}feat.${this.token(symbol)}`;
  }
  signal(strategy: string, symbol: string): string {
    return `${this.namespace}sig.${this.token(strategy)}.${this.token(symbol)}`;
  }
  orderIntent(symbol: string): string {
    return `${this.namespace}ord.intent.${this.token(symbol)}`;
  }
  riskDecision(symbol: string): string {
    return `${this.namespace}risk.decision.${this.token(symbol)}`;
  }
  orderEvent(symbol: string): string {
    return `${this.namespace}exec.order.${this.token(symbol)}`;
  }
  fill(symbol: string): string {
    return `${this.namespace}exec.fill.${this.token(symbol)}`;
  }
  reconciliation(venue: string): string {
    return `${this.namespace}exec.reconcile.${this.token(venue)}`;
  }
  portfolio(account: string): string {
    return `${this.namespace}pf.snapshot.${this.token(account)}`;
  }
  alert(severity: string, code: string): string {
    return `${this.namespace}alert.${severity}.${this.token(code)}`;
  }
  control(actor: string, command: string): string {
    return `${this.namespace}ctl.${actor}.${command}`;
  }
  rawFrame(provider: string, channel: string): string {
    return `${this.namespace}raw.${this.token(provider)}.${channel}`;
  }
  deadLetter(originalSubject: string): string {
    return `${this.namespace}dlq.${originalSubject}`;
  }
}
