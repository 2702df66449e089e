// `sluice bootstrap [--config RUN.json] [--json]`: the `sluice migrate` of NATS. Run as the admin
// user, it creates or updates everything the actors only open: the streams, the KV buckets (actor
// snapshots, the feature partition leases with the run config's TTL, the active model per strategy)
// and the model object store. Idempotent. Role users may not create or change streams or buckets
// (deploy/nats/accounts.conf), so an actor, `sluice run`, `sluice ingest` or `sluice models` started
// before it stops with a one-line message naming what is missing.
import type { JetStreamClient } from '@nats-io/jetstream';
import type { Command } from 'commander';
import { ACTIVE_BUCKET, MODELS_BUCKET, ModelRegistry } from '../../actors/inference/registry.ts';
import { type RunConfig, readRunConfig } from '../../actors/runtime/config.ts';
import { ConfigError } from '../../core/errors.ts';
import { applyLeaseBucket, LEASE_BUCKET } from '../../streams/leader-election.ts';
import { isPermissionViolation } from '../../streams/nats-errors.ts';
import { applySnapshotBucket, SNAPSHOT_BUCKET } from '../../streams/snapshot-store.ts';
import { applyStreams } from '../../streams/topology.ts';
import { connectBus } from '../services.ts';

export interface BootstrapOptions {
  replicas: number;
  /** The run config's bucket names and lease; without it the default names and no lease bucket. */
  config?: Pick<RunConfig, 'snapshotBucket' | 'featureLeases'>;
}

export interface BootstrapSummary {
  streams: string[];
  buckets: string[];
  objectStores: string[];
}

/** Creates or updates the whole NATS topology; the summary names what is there now. */
export async function bootstrapNats(
  jetstream: JetStreamClient,
  options: BootstrapOptions,
): Promise<BootstrapSummary> {
  const { replicas, config } = options;
  const streams = await applyStreams(await jetstream.jetstreamManager(), { replicas });
  const snapshots = config?.snapshotBucket ?? SNAPSHOT_BUCKET;
  await applySnapshotBucket(jetstream, snapshots, replicas);
  const buckets = [snapshots];
  if (config?.featureLeases) {
    const leases = config.featureLeases.bucket ?? LEASE_BUCKET;
    await applyLeaseBucket(jetstream, leases, config.featureLeases.leaseMs, replicas);
    buckets.push(leases);
  }
  await ModelRegistry.apply(jetstream, { replicas });
  buckets.push(ACTIVE_BUCKET);
  return { streams, buckets, objectStores: [MODELS_BUCKET] };
}

export function register(program: Command): void {
  program
    .command('bootstrap')
    .description(
      'as the NATS admin user: create or update the streams, KV buckets and model store the actors open',
    )
    .option('--config <file>', 'run configuration: its snapshot bucket and feature lease bucket and TTL')
    .option('--json', 'print the summary as JSON')
    .action(async (options: { config?: string; json?: boolean }) => {
      const config = options.config === undefined ? undefined : readRunConfig(options.config);
      const bus = await connectBus('sluice-bootstrap', 'none');
      let summary: BootstrapSummary;
      try {
        summary = await bootstrapNats(bus.jetstream, {
          replicas: bus.environment.streamReplicas,
          ...(config ? { config } : {}),
        }).catch((error: Error) => {
          if (!isPermissionViolation(error)) throw error;
          throw new ConfigError(
            'NATS_USER',
            `${bus.environment.natsUser ?? '(none)'} may not set up streams and buckets (${error.message})`,
            'Run `sluice bootstrap` as the admin user',
          );
        });
      } finally {
        await bus.connection.close();
      }
      if (options.json) {
        console.log(JSON.stringify(summary, null, 2));
        return;
      }
      console.log(`streams:       ${summary.streams.join(', ')}`);
      console.log(`KV buckets:    ${summary.buckets.join(', ')}`);
      console.log(`object stores: ${summary.objectStores.join(', ')}`);
      if (!config?.featureLeases) {
        console.log('no partition-lease bucket: pass --config with featureLeases to make it');
      }
    });
}
