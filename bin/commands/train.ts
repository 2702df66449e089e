import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import { readEnvironment } from '../../core/config.ts';
import { readJsonFile } from '../../core/config-file.ts';
import { ConfigError } from '../../core/errors.ts';
import {
  type Progress,
  parseSentimentConfig,
  parseTrainConfig,
  type SentimentTrainConfig,
  type TrainConfig,
  type TrainResult,
  trainSentimentModel,
  trainTabularModel,
} from '../../simulations/research/train.ts';
import { createDatabase, json } from '../../timescale/database.ts';
import { databaseUrl, redactUrl } from '../services.ts';

type Json = Record<string, unknown>;

async function recordRun(result: TrainResult, config: unknown, startedAt: Date): Promise<string> {
  const url = databaseUrl(readEnvironment());
  const db = createDatabase(url, { maxConnections: 1, applicationName: 'sluice-train' });
  const id = `train:${result.manifest.modelId}`;
  const metrics = { ...result.manifest.metrics, onnx_sha256: result.manifest.onnx.sha256 };
  try {
    // The runs table knows live, paper and backtest runs; a training run is an offline
    // (walk-forward) evaluation, so it is a backtest whose config says command = train.
    await db
      .insertInto('runs')
      .values({
        id,
        kind: 'backtest',
        config: json({ command: 'train', model_id: result.manifest.modelId, ...(config as Json) }),
        started_at: startedAt,
        finished_at: new Date(),
        status: 'finished',
        metrics: json(metrics),
      })
      .onConflict((oc) =>
        oc.column('id').doUpdateSet((eb) => ({
          config: eb.ref('excluded.config'),
          started_at: eb.ref('excluded.started_at'),
          finished_at: eb.ref('excluded.finished_at'),
          status: eb.ref('excluded.status'),
          metrics: eb.ref('excluded.metrics'),
        })),
      )
      .execute();
    return `run ${id} recorded in ${redactUrl(url)}`;
  } catch (error) {
    return `run not recorded: database ${redactUrl(url)} did not take it (${(error as Error).message}); run \`sluice migrate\` or set DATABASE_URL`;
  } finally {
    await db.destroy();
  }
}

interface TrainOptions {
  config?: string;
  sentiment?: boolean;
  json?: boolean;
  record: boolean;
}

export function register(program: Command): void {
  program
    .command('train')
    .description(
      'Train a model on the live feature set (or the news sentiment model), export ONNX + manifest',
    )
    .option(
      '--config <file>',
      'JSON training config (model, symbols, dataDir, labels, folds, embargo, outputDir)',
    )
    .option(
      '--sentiment',
      'train the news sentiment model instead (config keys: dataDir, outputDir, seed, epochs)',
    )
    .option('--no-record', 'do not record the run in the database')
    .option('--json', 'print the manifest as JSON on stdout')
    .action(async (options: TrainOptions) => {
      const raw = options.config ? readJsonFile(options.config) : undefined;
      if (!options.sentiment && raw === undefined) {
        throw new ConfigError('--config', 'missing', 'Pass --config FILE (or --sentiment)');
      }
      // Checked before the progress bar starts, so a bad config prints only its error.
      const train = options.sentiment
        ? (
            (o: SentimentTrainConfig) => (p: Progress) =>
              trainSentimentModel(o, p)
          )(parseSentimentConfig(raw))
        : (
            (c: TrainConfig) => (p: Progress) =>
              trainTabularModel(c, p)
          )(parseTrainConfig(raw));
      const bar = new SingleBar({
        format: 'train [{bar}] {value}/{total} {step}',
        stream: process.stderr,
        noTTYOutput: true,
        notTTYSchedule: 1_000,
      });
      bar.start(1, 0, { step: 'start' });
      const startedAt = new Date();
      let result: TrainResult;
      try {
        result = train((done, total, step) => {
          bar.setTotal(total);
          bar.update(done, { step });
        });
      } finally {
        bar.stop();
      }
      const recorded = options.record
        ? await recordRun(result, raw ?? { sentiment: true }, startedAt)
        : 'run not recorded (--no-record)';
      if (options.json) {
        console.log(JSON.stringify(result.manifest, null, 2));
      } else {
        const m = result.manifest;
        console.log(`model ${m.modelId} (${m.kind}), feature set ${m.featureSet.version}`);
        console.log(`  onnx      ${result.onnxPath}`);
        console.log(`  manifest  ${result.manifestPath}`);
        console.log(`  out of sample: ${JSON.stringify(m.metrics.outOfSample)}`);
      }
      console.error(`sluice train: ${recorded}`);
    });
}
