// One election candidate in a process of its own, so a test can SIGSTOP it (a long GC pause, a
// frozen VM) while another candidate runs. Prints JSON lines: leader / lost events and, every 20 ms,
// whether it trusts its lease, each with a wall-clock `at` the test can compare across processes.
// Usage: NATS_URL=… node --import tsx leader-candidate.ts BUCKET KEY HOLDER LEASE_MS
import { jetstream } from '@nats-io/jetstream';
import { connectNats } from '../../streams/connection.ts';
import { applyLeaseBucket, elect } from '../../streams/leader-election.ts';

const [bucket = '', key = '', holder = '', leaseMs = '0'] = process.argv.slice(2);
const print = (line: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify({ ...line, at: Date.now() })}\n`);
};

const connection = await connectNats({ url: process.env.NATS_URL ?? '', name: holder });
const kv = await applyLeaseBucket(jetstream(connection), bucket, Number(leaseMs));
const election = await elect({
  kv,
  key,
  holder,
  leaseMs: Number(leaseMs),
  onLeader: (term) => print({ event: 'leader', term }),
  onLost: (reason) => print({ event: 'lost', reason }),
});
const report = setInterval(() => print({ event: 'status', isLeader: election.isLeader }), 20);
process.once('SIGTERM', async () => {
  clearInterval(report);
  await election.resign();
  await connection.close();
  process.exit(0);
});
