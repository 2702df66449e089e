// `sluice models list | push | activate | rollback`: the model registry in NATS (Object Store for
// the ONNX bytes and manifests, KV for the active model per strategy). A running InferenceActor
// watching the strategy's key loads, checks and swaps in what `activate` or `rollback` selects.
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ModelRegistry } from '../../actors/inference/registry.ts';
import { ConfigError } from '../../core/errors.ts';
import { decodeModelManifest } from '../../schemas/validate.ts';
import { connectBus } from '../services.ts';

async function withRegistry<T>(run: (registry: ModelRegistry) => Promise<T>): Promise<T> {
  const bus = await connectBus('sluice-models', 'none');
  try {
    return await run(await ModelRegistry.open(bus.jetstream));
  } finally {
    await bus.connection.close();
  }
}

function readFile(path: string, flag: string): Buffer {
  if (!existsSync(path)) throw new ConfigError(flag, `${path} does not exist`, 'Pass an existing file');
  return readFileSync(path);
}

export function register(program: Command): void {
  const models = program
    .command('models')
    .description('Model registry in NATS: list, push, activate, rollback');

  models
    .command('list')
    .description('Models in the registry')
    .option('--json', 'JSON on stdout')
    .action(async (options: { json?: boolean }) => {
      const listing = await withRegistry((registry) => registry.list());
      if (options.json) {
        console.log(JSON.stringify(listing, null, 2));
        return;
      }
      if (listing.length === 0) console.log('no models');
      for (const m of listing) {
        console.log(
          `${m.modelId}  ${m.kind}  feature set ${m.featureSetVersion.slice(0, 12)}  ${m.bytes} bytes  ${m.createdAt}`,
        );
      }
    });

  models
    .command('push')
    .description('Store an ONNX model with its manifest (the sha256 must match)')
    .argument('<file.onnx>', 'ONNX model')
    .requiredOption('--manifest <file>', 'manifest JSON written by `sluice train`')
    .action(async (file: string, options: { manifest: string }) => {
      const bytes = new Uint8Array(readFile(file, '<file.onnx>'));
      const decoded = decodeModelManifest(readFile(options.manifest, '--manifest'));
      if (!decoded.ok) {
        throw new ConfigError('--manifest', decoded.reason, 'Pass the manifest sluice train wrote');
      }
      const manifest = decoded.value;
      await withRegistry((registry) => registry.push(manifest, bytes));
      console.log(`pushed ${manifest.modelId} (${bytes.length} bytes, sha256 ${manifest.onnx.sha256})`);
    });

  models
    .command('activate')
    .description("Make a model the strategy's active model")
    .argument('<strategy>')
    .argument('<model_id>')
    .action(async (strategy: string, modelId: string) => {
      await withRegistry((registry) => registry.activate(strategy, modelId));
      console.log(`${strategy}: ${modelId} active`);
    });

  models
    .command('rollback')
    .description('Re-activate the model active before the last activation')
    .argument('<strategy>')
    .action(async (strategy: string) => {
      const modelId = await withRegistry((registry) => registry.rollback(strategy));
      console.log(`${strategy}: rolled back to ${modelId}`);
    });
}
