// Dead letters that must never block: cut to the server's max_payload with the original's size and
// SHA-256, whatever the payload grows to as JSON; and which servers take a reason after +TERM.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { validateMessage } from '../../schemas/validate.ts';
import { maxPayload, type NatsConnection, termTakesReason } from '../../streams/connection.ts';
import { buildDeadLetter, type DeadLetterInput } from '../../streams/dead-letter.ts';

const MAX_PAYLOAD = 1024 * 1024;

function input(payload: Uint8Array | string): DeadLetterInput {
  return {
    originalSubject: 'md.tick.1.AAPL',
    reason: 'malformed JSON: Unexpected token',
    consumer: 'feature-default-p1',
    payload,
    receivedAt: 1_700_000_000_000,
    streamSequence: 42,
  };
}

const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));
const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');

describe('buildDeadLetter', () => {
  it('keeps a letter that fits as it is, without the truncation fields', () => {
    const letter = buildDeadLetter(input('{"price":-1}'), MAX_PAYLOAD);
    assert.equal(letter.payload, '{"price":-1}');
    assert.equal(letter.payload_truncated, undefined);
    assert.equal(letter.payload_bytes, undefined);
    assert.equal(letter.payload_sha256, undefined);
  });

  const payloads: [string, Uint8Array | string][] = [
    [
      '900 KB of bytes that are not UTF-8 (each a U+FFFD, three bytes as JSON)',
      new Uint8Array(900 * 1024).fill(0xff),
    ],
    ['900 KB of control bytes (each \\u0001, six bytes as JSON)', new Uint8Array(900 * 1024).fill(0x01)],
    ['2 MB of text', 'x'.repeat(2 * 1024 * 1024)],
  ];
  for (const [what, payload] of payloads) {
    it(`cuts ${what} to fit max_payload, with its size and SHA-256, and stays within its contract`, () => {
      const letter = buildDeadLetter(input(payload), MAX_PAYLOAD);
      const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
      assert.ok(jsonBytes(letter) <= MAX_PAYLOAD - 1024, `${jsonBytes(letter)} bytes`);
      // As much as fits: within a few percent of the room.
      assert.ok(jsonBytes(letter) > MAX_PAYLOAD * 0.9, `${jsonBytes(letter)} bytes used`);
      assert.equal(letter.payload_truncated, true);
      assert.equal(letter.payload_bytes, size);
      assert.equal(letter.payload_sha256, sha256(payload));
      assert.equal(validateMessage('dead_letter', letter).ok, true);
    });
  }
});

describe('server capabilities from its INFO', () => {
  const server = (version: string, max_payload?: number) =>
    ({ info: { version, ...(max_payload ? { max_payload } : {}) } }) as unknown as NatsConnection;

  it('takes +TERM <reason> only from nats-server 2.10.4 on (2.9.10 redelivers such a message)', () => {
    for (const version of ['2.9.10', '2.9.25', '2.10.0', '2.10.3'])
      assert.equal(termTakesReason(server(version)), false, version);
    for (const version of ['2.10.4', '2.10.24', '2.11.0', '3.0.0'])
      assert.equal(termTakesReason(server(version)), true, version);
  });

  it("reads max_payload from the server, 1 MiB (the server's default) when it has not said", () => {
    assert.equal(maxPayload(server('2.9.10', 8 * 1024 * 1024)), 8 * 1024 * 1024);
    assert.equal(maxPayload(undefined), 1024 * 1024);
  });
});
