// Leader election over a real NATS KV lease: one leader at a time, a standby takes over a dead
// leader within a bound, a paused leader learns from a failed compare-and-swap that it lost, and a
// standby risk gate takes over with no order passing unchecked.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { lastMarketDataFromStream, startTrading, type Trading } from '../../actors/pipeline.ts';
import type { MessageName, MessageOf, OrderIntent, RiskDecision, Signal } from '../../schemas/messages.ts';
import { Subjects } from '../../schemas/subjects.ts';
import { type ActorBus, NatsActorBus } from '../../streams/bus.ts';
import { connectNats, type NatsConnection } from '../../streams/connection.ts';
import { lastPortfolioSnapshotFromStream, lastReconciliationFromStream } from '../../streams/last-message.ts';
import {
  applyLeaseBucket,
  type Election,
  elect,
  LeaderOnlyBus,
  LeaderOnlySnapshotStore,
  type LossReason,
} from '../../streams/leader-election.ts';
import { KvSnapshotStore } from '../../streams/snapshot-store.ts';
import { startTestBus, type TestBus } from '../support/bus.ts';
import { SYMBOLS, sampleBars, signalFor, tradingConfig } from '../unit/trading-fixture.ts';

const LEASE_MS = 1_000;
/** Expiry after the last renewal, plus one standby retry, plus slack for a loaded machine. */
const TAKEOVER_BOUND_MS = LEASE_MS + LEASE_MS / 4 + 1_500;

async function until(
  condition: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

interface Candidate {
  name: string;
  connection: NatsConnection;
  election: Election;
  events: { event: 'leader' | LossReason; at: number }[];
}

async function candidate(url: string, name: string, bucket: string, key: string): Promise<Candidate> {
  const connection = await connectNats({ url, name });
  const kv = await applyLeaseBucket(jetstream(connection), bucket, LEASE_MS);
  const events: Candidate['events'] = [];
  const election = await elect({
    kv,
    key,
    holder: name,
    leaseMs: LEASE_MS,
    onLeader: () => {
      events.push({ event: 'leader', at: performance.now() });
    },
    onLost: (reason) => {
      events.push({ event: reason, at: performance.now() });
    },
  });
  return { name, connection, election, events };
}

describe('leader election on a NATS KV lease', { timeout: 60_000 }, () => {
  let test: TestBus;
  before(async () => {
    test = await startTestBus();
  });
  after(async () => {
    await test.close();
  });

  it('refuses a bucket whose TTL is shorter than the lease', async () => {
    const kv = await applyLeaseBucket(test.jetstream, 'short_leases', LEASE_MS / 2);
    await assert.rejects(
      elect({ kv, key: 'x', holder: 'a', leaseMs: LEASE_MS }),
      /TTL 500 ms must be at least/,
    );
  });

  it('keeps one leader at a time; a dead leader is replaced within the bound; a resigning one at once', async (t) => {
    const a = await candidate(test.url, 'a', 'leases_1', 'role');
    const b = await candidate(test.url, 'b', 'leases_1', 'role');
    const c = await candidate(test.url, 'c', 'leases_1', 'role');
    const all = [a, b, c];
    const leaders = () => all.filter((x) => x.election.isLeader);
    let overlaps = 0;
    const watch = setInterval(() => {
      if (leaders().length > 1) overlaps++;
    }, 2);
    try {
      assert.deepEqual(
        leaders().map((x) => x.name),
        ['a'],
        'the first candidate wins',
      );
      // Several renewals pass and nothing changes hands.
      await new Promise((resolve) => setTimeout(resolve, 2 * LEASE_MS));
      assert.deepEqual(
        leaders().map((x) => x.name),
        ['a'],
      );
      const firstTerm = a.election.term ?? 0;

      // a dies: its renewals stop (connection gone) and it never resigns.
      const diedAt = performance.now();
      await a.connection.close();
      await until(
        () => leaders().length === 1 && leaders()[0] !== a,
        TAKEOVER_BOUND_MS,
        'a standby to take over',
      );
      const takeover = performance.now() - diedAt;
      const [successor] = leaders();
      assert.ok(successor);
      assert.ok((successor.election.term ?? 0) > firstTerm, 'a new term');
      // a sees its lease lapse once its renewals have failed for 3/4 of a lease.
      await until(() => a.events.some((e) => e.event === 'lapsed'), LEASE_MS, 'a to learn it lost');
      assert.equal(a.election.isLeader, false);

      // The successor resigns: the key is deleted and the last standby takes over without waiting for expiry.
      const [last] = [b, c].filter((x) => x !== successor);
      assert.ok(last);
      const resignedAt = performance.now();
      await successor.election.resign();
      await until(() => last.election.isLeader, LEASE_MS / 2, 'the last standby after a resignation');
      const handover = performance.now() - resignedAt;
      assert.deepEqual(
        successor.events.map((e) => e.event),
        ['leader', 'resigned'],
      );
      assert.equal(overlaps, 0, 'never two leaders at once');
      t.diagnostic(`takeover ${takeover.toFixed(0)} ms, handover ${handover.toFixed(0)} ms`);
    } finally {
      clearInterval(watch);
      // a too: a dead candidate's loop keeps campaigning (and failing) until told to stop.
      for (const x of all) {
        await x.election.resign();
        if (!x.connection.isClosed()) await x.connection.close();
      }
    }
  });

  it('a paused leader learns from a failed compare-and-swap that it lost, and leads no moment past its successor', async () => {
    const lines: { event: string; at: number; isLeader?: boolean; reason?: string }[] = [];
    const child: ChildProcess = spawn(
      globalThis.process.execPath,
      [
        '--import',
        'tsx',
        join(import.meta.dirname, '../support/leader-candidate.ts'),
        'leases_paused',
        'role',
        'paused',
        String(LEASE_MS),
      ],
      { env: { ...globalThis.process.env, NATS_URL: test.url }, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    createInterface({ input: child.stdout as NonNullable<typeof child.stdout> }).on('line', (line) =>
      lines.push(JSON.parse(line)),
    );
    const exited = new Promise((resolve) => child.once('exit', resolve));
    let standby: Candidate | undefined;
    try {
      await until(() => lines.some((l) => l.event === 'leader'), 15_000, 'the child to lead');
      standby = await candidate(test.url, 'standby', 'leases_paused', 'role');
      assert.equal(standby.election.isLeader, false);

      // A stop-the-world pause longer than the lease: the key expires and the standby wins.
      child.kill('SIGSTOP');
      await until(
        () => standby?.election.isLeader === true,
        TAKEOVER_BOUND_MS + LEASE_MS,
        'the standby to win',
      );
      const wonAt = Date.now();
      child.kill('SIGCONT');

      await until(() => lines.some((l) => l.event === 'lost'), 5_000, 'the paused leader to learn it lost');
      assert.equal(
        lines.find((l) => l.event === 'lost')?.reason,
        'taken',
        'its renewal compare-and-swap failed',
      );
      const trustedAfter = lines.filter((l) => l.event === 'status' && l.isLeader && l.at >= wonAt);
      assert.deepEqual(trustedAfter, [], 'it never trusted its lease once the standby had won');
      assert.equal(standby.election.isLeader, true, 'the standby keeps leading');
    } finally {
      child.kill('SIGCONT');
      child.kill('SIGTERM');
      await exited;
      await standby?.election.resign();
      await standby?.connection.close();
    }
  });

  it('a standby risk gate takes over when the leader is cut off, with no order passing unchecked', async (t) => {
    const bars = await sampleBars(12);
    const published: { holder: string; name: MessageName; id: string; at: number }[] = [];
    const first = await tradingProcess(test, 'gate-a', published);
    const second = await tradingProcess(test, 'gate-b', published);
    try {
      await until(
        () => [first, second].some((p) => p.trading?.status().risk.state === 'active'),
        10_000,
        'a leader gate to reconcile',
      );
      // Usually the first to campaign, but a failed first try lets the other win: either is fine.
      const [a, b] = first.trading ? [first, second] : [second, first];
      assert.equal(b.trading, undefined, 'the standby runs no actors');
      const feeder = new NatsActorBus(test.jetstream, test.manager, test.subjects);
      const signals: Signal[] = [];
      const feed = async (step: number) => {
        const bar = bars[step];
        assert.ok(bar);
        await feeder.publish('bar', test.subjects.bar(bar.symbol), bar);
        const signal = signalFor(bar);
        signals.push(signal);
        await feeder.publish('signal', test.subjects.signal('momentum', bar.symbol), signal);
        await feeder.flush();
      };
      const decided = async (count: number) => (await ordersLedger(test)).decisions.length >= count;
      let step = 0;
      for (; step < 8; step++) {
        await feed(step);
        await until(() => decided(signals.length), 10_000, 'the leader to decide');
      }

      // a's lease stops being renewed (its election connection is cut); its actors keep running
      // until it learns it lost, and signals keep coming the whole time.
      const cutAt = performance.now();
      await a.electionConnection.close();
      while (!b.election.isLeader) {
        assert.ok(performance.now() - cutAt < TAKEOVER_BOUND_MS, 'standby took over within the bound');
        if (step < bars.length - 4) await feed(step++);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await until(() => b.trading?.status().risk.state === 'active', 10_000, 'the new gate to reconcile');
      for (; step < bars.length; step++) await feed(step);
      await until(() => decided(signals.length), 20_000, 'every signal decided');

      const ledger = await ordersLedger(test);
      const decisionsBySignal = new Map<string, RiskDecision[]>();
      for (const d of ledger.decisions)
        decisionsBySignal.set(d.signal_id, [...(decisionsBySignal.get(d.signal_id) ?? []), d]);
      for (const signal of signals) assert.ok(decisionsBySignal.has(signal.id), `${signal.id} decided`);
      assert.ok(ledger.intents.length > 4, 'orders passed before and after the takeover');
      // Each led once: a until b won, b from then on.
      assert.equal(a.ledAt.length, 1);
      assert.equal(b.ledAt.length, 1);
      const aLeadership = { start: a.ledAt[0] ?? Number.NaN, end: b.ledAt[0] ?? Number.NaN };
      const bLeadership = { start: aLeadership.end, end: Number.POSITIVE_INFINITY };
      for (const intent of ledger.intents) {
        const pass = ledger.decisions.find((d) => d.intent_id === intent.id && d.outcome === 'pass');
        assert.ok(pass, `${intent.id} has a pass decision`);
        const [record, ...more] = published.filter((p) => p.id === intent.id);
        assert.ok(record && more.length === 0, `${intent.id} published once`);
        const decisionBy = published.find((p) => p.id === pass.id)?.holder;
        assert.equal(decisionBy, record.holder, `${intent.id}: the gate that passed it published it`);
        const span = record.holder === a.holder ? aLeadership : bLeadership;
        assert.ok(
          record.at >= span.start && record.at < span.end,
          `${intent.id} published while ${record.holder} led`,
        );
      }
      const byHolder = (holder: string) =>
        ledger.intents.filter((i) => published.find((p) => p.id === i.id)?.holder === holder);
      assert.ok(byHolder(a.holder).length > 0 && byHolder(b.holder).length > 0, 'both gates passed orders');
      t.diagnostic(
        `intents by a ${byHolder(a.holder).length}, by b ${byHolder(b.holder).length}; a lost: ${a.lost.join(',')}`,
      );
    } finally {
      for (const proc of [first, second]) await proc.close();
    }
  });
});

interface TradingProcess {
  holder: string;
  election: Election;
  electionConnection: NatsConnection;
  trading: Trading | undefined;
  /** When onLeader ran. */
  ledAt: number[];
  lost: LossReason[];
  close(): Promise<void>;
}

/** Records every event a process's actors got past the leader fence, with the time it went out. */
class RecordingBus implements ActorBus {
  constructor(
    private readonly bus: NatsActorBus,
    private readonly holder: string,
    private readonly log: { holder: string; name: MessageName; id: string; at: number }[],
  ) {}
  get subjects() {
    return this.bus.subjects;
  }
  publish<N extends MessageName>(name: N, subject: string, event: MessageOf<N>): Promise<void> {
    this.log.push({ holder: this.holder, name, id: event.id, at: performance.now() });
    return this.bus.publish(name, subject, event);
  }
  subscribe: ActorBus['subscribe'] = (options) => this.bus.subscribe(options);
  flush = () => this.bus.flush();
}

/**
 * One trading "process": actors on one connection, its election on another (so the test can cut
 * the lease alone). The risk gate, execution and portfolio run only while it leads, behind the
 * leader fence, starting `reducing` until reconciled with the snapshots its predecessor saved.
 */
async function tradingProcess(
  test: TestBus,
  holder: string,
  log: { holder: string; name: MessageName; id: string; at: number }[],
): Promise<TradingProcess> {
  const connection = await connectNats({ url: test.url, name: holder });
  const electionConnection = await connectNats({ url: test.url, name: `${holder}-election` });
  const js = jetstream(connection);
  const manager = await jetstreamManager(connection);
  const subjects = new Subjects(4);
  const bus = new NatsActorBus(js, manager, subjects);
  const store = await KvSnapshotStore.open(js, 'sluice_snapshots');
  const kv: KV = await applyLeaseBucket(jetstream(electionConnection), 'sluice_leases', LEASE_MS);
  const proc: TradingProcess = {
    holder,
    election: undefined as unknown as Election,
    electionConnection,
    trading: undefined,
    ledAt: [],
    lost: [],
    close: async () => {
      await proc.election.resign();
      await proc.trading?.stop();
      await bus.close();
      await connection.close();
      if (!electionConnection.isClosed()) await electionConnection.close();
    },
  };
  proc.election = await elect({
    kv,
    key: 'trading.paper',
    holder,
    leaseMs: LEASE_MS,
    onLeader: async (_term, election) => {
      proc.ledAt.push(performance.now());
      const config = tradingConfig({ startState: 'reducing' });
      // As `sluice run` does: the new gate reconciles at once with the portfolio's last snapshot.
      proc.trading = await startTrading(config, {
        bus: new LeaderOnlyBus(new RecordingBus(bus, holder, log), election),
        store: new LeaderOnlySnapshotStore(store, election),
        lastMarketData: lastMarketDataFromStream(manager, subjects, SYMBOLS),
        lastPortfolioSnapshot: lastPortfolioSnapshotFromStream(manager, subjects, config.account),
        lastReconciliation: lastReconciliationFromStream(manager, subjects, 'SIM'),
      });
    },
    onLost: async (reason) => {
      proc.lost.push(reason);
      await proc.trading?.stop();
      proc.trading = undefined;
    },
  });
  return proc;
}

async function ordersLedger(test: TestBus): Promise<{ intents: OrderIntent[]; decisions: RiskDecision[] }> {
  const out = { intents: [] as OrderIntent[], decisions: [] as RiskDecision[] };
  const { state } = await test.manager.streams.info('ORDERS');
  if (state.messages === 0) return out;
  const consumer = await test.jetstream.consumers.get('ORDERS');
  const messages = await consumer.fetch({ max_messages: state.messages, expires: 5_000 });
  let seen = 0;
  for await (const message of messages) {
    const event = message.json<{ schema: string }>();
    if (event.schema === 'order_intent.v2') out.intents.push(event as OrderIntent);
    if (event.schema === 'risk_decision.v1') out.decisions.push(event as RiskDecision);
    if (++seen >= state.messages) break;
  }
  return out;
}
