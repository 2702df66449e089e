// The control plane: operator commands as core NATS request/reply on `ctl.<actor>.<command>`. The
// request is a control_command, the reply a control_reply. Nothing here goes through JetStream: a
// command is answered by the running actor or not at all, and a stale command must not be replayed
// into a restarted actor. Only operator tooling holds the connection that sends these; strategies
// publish signals on JetStream and have no path here.
import type { Clock } from '../core/clock.ts';
import { replyIdFor } from '../core/lineage-ids.ts';
import type { Logger } from '../core/logger.ts';
import type { ControlCommand, ControlReply } from '../schemas/messages.ts';
import type { Subjects } from '../schemas/subjects.ts';
import { decodeMessage } from '../schemas/validate.ts';
import type { NatsConnection } from './connection.ts';

/** What a command handler answers; the server wraps it into a control_reply. */
export interface ControlResult {
  ok: boolean;
  state?: string;
  error?: string;
  data?: unknown;
}

export type ControlHandler = (command: ControlCommand) => ControlResult | Promise<ControlResult>;

export interface ControlServer {
  readonly actor: string;
  stop(): Promise<void>;
}

export interface ServeControlOptions {
  connection: NatsConnection;
  subjects: Subjects;
  actor: string;
  /** Command name (the last subject token) → handler. */
  handlers: Readonly<Record<string, ControlHandler>>;
  /** Stamps replies; actors pass their event-time clock. */
  clock: Clock;
  logger?: Logger;
}

const encoder = new TextEncoder();

function reply(commandId: string, result: ControlResult, now: number): ControlReply {
  return {
    schema: 'control_reply.v1',
    id: replyIdFor(commandId),
    ts_event: now,
    ts_init: now,
    command_id: commandId,
    ok: result.ok,
    error: result.error,
    state: result.state,
    data: result.data,
  };
}

/** Answers `ctl.<actor>.*`; an invalid request or an unknown command gets ok:false naming why. */
export function serveControl(options: ServeControlOptions): ControlServer {
  const { connection, subjects, actor, handlers, clock, logger } = options;
  const known = Object.keys(handlers).sort();
  const subscription = connection.subscribe(subjects.control(actor, '*'), {
    callback: (error, message) => {
      if (error) {
        logger?.error({ err: error, actor }, 'control subscription failed');
        return;
      }
      const command = message.subject.slice(message.subject.lastIndexOf('.') + 1);
      const answer = (commandId: string, result: ControlResult) =>
        message.respond(encoder.encode(JSON.stringify(reply(commandId, result, clock.now()))));
      const decoded = decodeMessage('control_command', message.data);
      if (!decoded.ok) {
        answer('invalid', { ok: false, error: `invalid control_command: ${decoded.reason}` });
        return;
      }
      const handler = handlers[command];
      if (handler === undefined) {
        answer(decoded.value.id, {
          ok: false,
          error: `unknown command "${command}" for ${actor}; known: ${known.join(', ')}`,
        });
        return;
      }
      Promise.resolve()
        .then(() => handler(decoded.value))
        .then(
          (result) => answer(decoded.value.id, result),
          (failure: unknown) => answer(decoded.value.id, { ok: false, error: String(failure) }),
        );
    },
  });
  return {
    actor,
    stop: async () => {
      await subscription.drain();
    },
  };
}

export interface SendControlOptions {
  operator: string;
  reason?: string;
  args?: ControlCommand['args'];
  /** Epoch ms stamped on the command; operator tools pass the wall clock. */
  now: number;
  timeoutMs?: number;
}

/** Sends one command and returns the actor's reply (throws when no actor answers in time). */
export async function sendControl(
  connection: NatsConnection,
  subjects: Subjects,
  actor: string,
  command: string,
  options: SendControlOptions,
): Promise<ControlReply> {
  const request: ControlCommand = {
    schema: 'control_command.v1',
    id: `ctl:${actor}:${command}:${options.operator}:${options.now}`,
    ts_event: options.now,
    ts_init: options.now,
    actor,
    command,
    operator: options.operator,
    reason: options.reason,
    args: options.args,
  };
  const response = await connection.request(
    subjects.control(actor, command),
    encoder.encode(JSON.stringify(request)),
    { timeout: options.timeoutMs ?? 5_000 },
  );
  const decoded = decodeMessage('control_reply', response.data);
  if (!decoded.ok) throw new Error(`bad reply from ${actor}: ${decoded.reason}`);
  return decoded.value;
}
