// Admission: what a consumer checks of a decoded, contract-valid message before its handler sees it.
// A contract says what a message may hold; these rules say where and when it may arrive, which the
// message alone cannot:
// - routing: its schema is one its subject's kind carries (no quote on `md.bar`), and the subject's
//   tokens are the body's own fields (symbol, the symbol's partition, strategy, account, ...), so a
//   consumer of one partition only ever sees that partition's symbols;
// - clock skew: ts_event is at most `maxFutureSkewMs` ahead of ts_init, and, given a receiving clock
//   (live mode), neither ts_event nor ts_init is more than that ahead of it. A message stamped in the
//   future would otherwise move its symbol's clock there and make every later message "out of order".
// In a replay the receiving clock is the event clock, which ts_init records (historical data is
// stamped ts_init = ts_event), so replays check ts_event against ts_init only: the same decision for
// the same input on every run, on the in-process bus and over NATS.
import type { Clock } from '../core/clock.ts';
import { type MessageName, type MessageOf, schemaTagOf } from '../schemas/messages.ts';
import {
  isTokenOf,
  partitionOf,
  type SubjectSpec,
  type Subjects,
  subjectSpecs,
} from '../schemas/subjects.ts';

/** One day: a feed's clock may drift or a venue stamp in its own zone, but not by more. */
export const DEFAULT_MAX_FUTURE_SKEW_MS = 86_400_000;

export interface AdmissionContext {
  /** The subjects consumed: their namespace (`bt.<run>.`) and partition count. */
  readonly subjects: Subjects;
  /** How far ahead ts_event may be of ts_init, and both of the receiving clock (DEFAULT_MAX_FUTURE_SKEW_MS). */
  readonly maxFutureSkewMs: number;
  /** Live mode only (a WallClock): a replay's receiving clock is the event clock, recorded in ts_init. */
  readonly receivingClock?: Clock;
}

/** A subject kind as a consumer reads it: the literal head of its address, then one field per token. */
interface Route {
  readonly kind: string;
  /** e.g. `md.tick.`, without the namespace. */
  readonly head: string;
  /** The `{parameters}` after the head, in order; `original_subject` takes the rest of the subject. */
  readonly fields: readonly string[];
  readonly schemaTags: readonly string[];
  /** Whether the body's symbol is all its subject names (with the symbol's partition): see `admitted`. */
  readonly symbolOnly: boolean;
}

const routes: readonly Route[] = (Object.entries(subjectSpecs) as [string, SubjectSpec][]).map(
  ([kind, spec]) => {
    const tokens = spec.address.split('.');
    const literal = tokens.filter((token) => !token.startsWith('{'));
    const fields = tokens.slice(literal.length).map((token) => token.slice(1, -1));
    return {
      kind,
      head: `${literal.join('.')}.`,
      fields,
      schemaTags: spec.messages.map(schemaTagOf),
      symbolOnly:
        fields.includes('symbol') && fields.every((field) => field === 'symbol' || field === 'partition'),
    };
  },
);

type AnyMessage = MessageOf<MessageName>;

/**
 * Why `message`, decoded from `subject`, may not be handed to a handler; undefined when it may.
 * Call it right after a message has been decoded and validated, and dead-letter the message with the
 * returned reason (it is not a transient failure: never retry it). Pure (its one cache aside, see
 * `admittedBySubjects`) and allocation-free for an admitted message on a subject admitted before: it
 * runs for every message a consumer reads.
 */
export function admissionFailure(
  subject: string,
  message: AnyMessage,
  context: AdmissionContext,
): string | undefined {
  return routingFailure(subject, message, context.subjects) ?? skewFailure(message, context);
}

/**
 * Whether `text` is in `subject` at `at`. By character codes: String.prototype.startsWith (and
 * indexOf, below) cost more here than the rest of a message's admission.
 */
function hasAt(subject: string, at: number, text: string): boolean {
  if (at + text.length > subject.length) return false;
  for (let index = 0; index < text.length; index++) {
    if (subject.charCodeAt(at + index) !== text.charCodeAt(index)) return false;
  }
  return true;
}

const DOT = 0x2e;

/** A subject that admitted a message of `symbol` on a `symbolOnly` route. */
interface AdmittedSubject {
  readonly route: Route;
  readonly symbol: string;
}

/**
 * The subjects admitted so far, per Subjects (namespace and partition count). A subject names one
 * symbol, so it admits that symbol's next message after one lookup: checking its tokens again cost
 * about a tenth of a replayed event. Only admitted subjects are kept, at most ADMITTED_LIMIT (then
 * the map starts again), so refused messages cannot grow it. A cache of a pure function: the answers
 * are the same without it.
 */
const admittedBySubjects = new WeakMap<Subjects, Map<string, AdmittedSubject>>();
const ADMITTED_LIMIT = 100_000;
let lastSubjects: Subjects | undefined;
let lastAdmitted = new Map<string, AdmittedSubject>();

function admittedOf(subjects: Subjects): Map<string, AdmittedSubject> {
  if (subjects !== lastSubjects) {
    let admitted = admittedBySubjects.get(subjects);
    if (admitted === undefined) {
      admitted = new Map();
      admittedBySubjects.set(subjects, admitted);
    }
    lastSubjects = subjects;
    lastAdmitted = admitted;
  }
  return lastAdmitted;
}

function routingFailure(subject: string, message: AnyMessage, subjects: Subjects): string | undefined {
  const admitted = admittedOf(subjects);
  const symbol = (message as { readonly symbol?: unknown }).symbol;
  const known = admitted.get(subject);
  if (known !== undefined && known.symbol === symbol && carries(known.route, message.schema))
    return undefined;
  const route = routeOrFailure(subject, message, subjects);
  if (typeof route === 'string') return route;
  if (route.symbolOnly && typeof symbol === 'string') {
    if (admitted.size >= ADMITTED_LIMIT) admitted.clear();
    admitted.set(subject, { route, symbol });
  }
  return undefined;
}

/** The route of `subject` when `message` may travel on it, or why not. */
function routeOrFailure(subject: string, message: AnyMessage, subjects: Subjects): Route | string {
  const namespace = subjects.namespace;
  if (!hasAt(subject, 0, namespace)) return `subject ${subject} is outside the namespace ${namespace}`;
  let route: Route | undefined;
  for (let index = 0; index < routes.length; index++) {
    const candidate = routes[index]!;
    if (hasAt(subject, namespace.length, candidate.head)) {
      route = candidate;
      break;
    }
  }
  if (route === undefined) return `subject ${subject} is no subject of the subject map (schemas/subjects.ts)`;
  if (!carries(route, message.schema)) {
    return `${message.schema} does not travel on ${route.kind} subjects (${subject}); they carry ${route.schemaTags.join(', ')}`;
  }
  const fields = message as unknown as Readonly<Record<string, unknown>>;
  let from = namespace.length + route.head.length;
  for (let index = 0; index < route.fields.length; index++) {
    const field = route.fields[index]!;
    if (from > subject.length) return `subject ${subject} has no {${field}} token`;
    if (field === 'original_subject') {
      const original = fields.original_subject;
      const rest = subject.length - from;
      if (typeof original === 'string' && (rest !== original.length || !hasAt(subject, from, original))) {
        return `subject ${subject} is not the dead-letter subject of /original_subject ${original}`;
      }
      return route;
    }
    let to = from;
    while (to < subject.length && subject.charCodeAt(to) !== DOT) to++;
    const failure =
      field === 'partition'
        ? partitionFailure(subject, from, to, fields.symbol, subjects.partitions)
        : fieldFailure(subject, from, to, field, fields[field]);
    if (failure !== undefined) return failure;
    from = to + 1;
  }
  return from > subject.length ? route : `subject ${subject} has more tokens than ${route.kind} subjects`;
}

function carries(route: Route, schemaTag: string): boolean {
  for (let index = 0; index < route.schemaTags.length; index++) {
    if (route.schemaTags[index] === schemaTag) return true;
  }
  return false;
}

/** The {partition} token must be the body symbol's partition, written as `Subjects` writes it. */
function partitionFailure(
  subject: string,
  from: number,
  to: number,
  symbol: unknown,
  partitions: number,
): string | undefined {
  if (typeof symbol !== 'string') return undefined;
  const expected = partitionOf(symbol, partitions);
  let written = 0;
  for (let at = from; at < to; at++) {
    const digit = subject.charCodeAt(at) - 0x30;
    if (digit < 0 || digit > 9) return partitionReason(subject, from, to, symbol, expected, partitions);
    written = written * 10 + digit;
  }
  // An empty token or a leading zero is no partition `Subjects` writes.
  const canonical = to > from && (subject.charCodeAt(from) !== 0x30 || to === from + 1);
  return canonical && written === expected
    ? undefined
    : partitionReason(subject, from, to, symbol, expected, partitions);
}

function partitionReason(
  subject: string,
  from: number,
  to: number,
  symbol: string,
  expected: number,
  partitions: number,
): string {
  return `subject ${subject} names partition "${subject.slice(from, to)}", but /symbol ${JSON.stringify(symbol)} is in partition ${expected} of ${partitions}`;
}

/** A token must encode the body field of the same name; a field the message lacks is not checked. */
function fieldFailure(
  subject: string,
  from: number,
  to: number,
  field: string,
  value: unknown,
): string | undefined {
  if (typeof value !== 'string' || isTokenOf(subject, from, to, value)) return undefined;
  return `subject ${subject} names ${field} "${subject.slice(from, to)}", but the message's /${field} is ${JSON.stringify(value)}`;
}

function skewFailure(message: AnyMessage, context: AdmissionContext): string | undefined {
  const { ts_event: tsEvent, ts_init: tsInit } = message;
  const maxSkew = context.maxFutureSkewMs;
  if (tsEvent - tsInit > maxSkew) {
    return `/ts_event ${timeText(tsEvent)} is ${tsEvent - tsInit} ms ahead of /ts_init ${timeText(tsInit)}, more than the allowed clock skew of ${maxSkew} ms`;
  }
  const clock = context.receivingClock;
  if (clock === undefined) return undefined;
  const now = clock.now();
  const latest = Math.max(tsEvent, tsInit);
  if (latest - now <= maxSkew) return undefined;
  const field = latest === tsEvent ? 'ts_event' : 'ts_init';
  return `/${field} ${timeText(latest)} is ${latest - now} ms ahead of the receiving clock ${timeText(now)}, more than the allowed clock skew of ${maxSkew} ms`;
}

function timeText(epochMillis: number): string {
  const date = new Date(epochMillis);
  return Number.isNaN(date.getTime()) ? String(epochMillis) : `${epochMillis} (${date.toISOString()})`;
}
