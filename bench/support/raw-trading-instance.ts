// The trading bench's peer: what plain nats.js pays for the same path with no trading logic. A
// durable pull consumer on every tick parses and acknowledges it; one on signals parses each,
// publishes an intent for it to JetStream and acknowledges. Same status lines and stop as
// trading-instance.ts (its `decisions` are the signals handled).
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Subjects } from '../../schemas/subjects.ts';
import { connectNats } from '../../streams/connection.ts';
import { reportStatus } from './status-process.ts';

const connection = await connectNats({ url: process.env.NATS_URL ?? '', name: 'bench-raw-trading' });
const client = jetstream(connection);
const manager = await jetstreamManager(connection);
const subjects = new Subjects(4);
const decoder = new TextDecoder();
let decisions = 0;

async function consume(
  stream: string,
  durable: string,
  filterSubject: string,
  onMessage: (data: unknown) => void,
) {
  await manager.consumers.add(stream, {
    durable_name: durable,
    filter_subject: filterSubject,
    ack_policy: AckPolicy.Explicit,
  });
  const messages = await (await client.consumers.get(stream, durable)).consume({ max_messages: 256 });
  void (async () => {
    for await (const message of messages) {
      onMessage(JSON.parse(decoder.decode(message.data)));
      message.ack();
    }
  })();
  return messages;
}

const consumers = [
  await consume('MARKET', 'raw-ticks', subjects.marketFilter('tick'), () => {}),
  await consume('SIGNALS', 'raw-signals', 'sig.>', (data) => {
    const signal = data as { id: string; symbol: string };
    decisions++;
    void client.publish(subjects.orderIntent(signal.symbol), JSON.stringify({ signal_id: signal.id }));
  }),
];
reportStatus(
  () => ({ decisions }),
  async () => {
    for (const messages of consumers) await messages.close();
    await connection.close();
  },
);
