// The model registry in NATS: each model's ONNX bytes are one object in an Object Store bucket (name =
// model id), with its manifest JSON in the object's metadata so bytes and manifest land together; the
// active model per strategy is a KV key whose history is the activation log, so `rollback` undoes the
// last activation without any other state. Only features nats-server 2.9 has are used (no bucket
// metadata, no compression).
import type { JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { type ObjectStore, Objm } from '@nats-io/obj';
import { sha256Hex } from '../../core/hash.ts';
import type { ModelManifest } from '../../schemas/model-manifest.ts';
import { decodeModelManifest, validateModelManifest } from '../../schemas/validate.ts';
import { streamExists } from '../../streams/nats-errors.ts';
import { applyBucket, MissingTopologyError, openBucket } from '../../streams/topology.ts';

export const MODELS_BUCKET = 'sluice-models';
export const ACTIVE_BUCKET = 'sluice-model-active';
/** Activations kept per strategy (the KV maximum); rollback reaches back this far. */
const ACTIVATION_HISTORY = 64;
const MANIFEST_KEY = 'manifest';

export interface LoadedModel {
  readonly manifest: ModelManifest;
  readonly bytes: Uint8Array;
}

export interface ModelListing {
  readonly modelId: string;
  readonly kind: ModelManifest['kind'];
  readonly featureSetVersion: string;
  readonly sha256: string;
  readonly bytes: number;
  readonly createdAt: string;
}

/** One entry of a strategy's activation log (the KV value). */
interface Activation {
  readonly modelId: string;
  readonly action: 'activate' | 'rollback';
}

export interface ModelWatch {
  stop(): void;
}

/**
 * Where an InferenceActor gets its models. The registry is the live one; a backtest can hand the
 * actor a fixed model through the same interface.
 */
export interface ModelSource {
  active(strategy: string): Promise<string | undefined>;
  /** The model's manifest and bytes; throws when it is missing or its bytes do not match. */
  load(modelId: string): Promise<LoadedModel>;
  /** Calls back with each model id activated for `strategy` from now on (not the current one). */
  watch(strategy: string, onActivated: (modelId: string) => void): Promise<ModelWatch>;
}

/**
 * Models held in memory, for backtests on the in-process bus and for tests: the same interface as
 * the registry, with activations made by `activate` and announced to watchers synchronously.
 */
export class StaticModelSource implements ModelSource {
  private readonly models = new Map<string, LoadedModel>();
  private readonly activeIds = new Map<string, string>();
  private readonly watchers = new Map<string, Set<(modelId: string) => void>>();

  constructor(models: readonly LoadedModel[] = [], active: Readonly<Record<string, string>> = {}) {
    for (const model of models) this.models.set(model.manifest.modelId, model);
    for (const [strategy, modelId] of Object.entries(active)) this.activeIds.set(strategy, modelId);
  }

  add(model: LoadedModel): void {
    this.models.set(model.manifest.modelId, model);
  }

  activate(strategy: string, modelId: string): void {
    this.activeIds.set(strategy, modelId);
    for (const watcher of this.watchers.get(strategy) ?? []) watcher(modelId);
  }

  async active(strategy: string): Promise<string | undefined> {
    return this.activeIds.get(strategy);
  }

  async load(modelId: string): Promise<LoadedModel> {
    const model = this.models.get(modelId);
    if (!model) throw new Error(`model ${modelId} is not loaded`);
    verifyModelBytes(model.manifest, model.bytes);
    return model;
  }

  async watch(strategy: string, onActivated: (modelId: string) => void): Promise<ModelWatch> {
    const set = this.watchers.get(strategy) ?? new Set();
    set.add(onActivated);
    this.watchers.set(strategy, set);
    return { stop: () => set.delete(onActivated) };
  }
}

/**
 * The manifest stored with `modelId`, checked against its contract: a manifest written by an older or
 * foreign trainer, or edited by hand, is refused with the contract's reason instead of being used.
 */
function storedManifest(modelId: string, json: string): ModelManifest {
  const decoded = decodeModelManifest(json);
  if (!decoded.ok) throw new Error(`model ${modelId}: the registry holds a bad manifest: ${decoded.reason}`);
  return decoded.value;
}

/** Throws unless `bytes` are what the manifest describes. */
export function verifyModelBytes(manifest: ModelManifest, bytes: Uint8Array): void {
  const actual = sha256Hex(bytes);
  if (actual !== manifest.onnx.sha256 || bytes.length !== manifest.onnx.bytes) {
    throw new Error(
      `model ${manifest.modelId}: ONNX bytes (sha256 ${actual}, ${bytes.length} bytes) do not match the manifest (sha256 ${manifest.onnx.sha256}, ${manifest.onnx.bytes} bytes)`,
    );
  }
}

function parseActivation(value: Uint8Array): Activation {
  return JSON.parse(new TextDecoder().decode(value)) as Activation;
}

/** Replays an activation log into the stack of active models (top = current). */
export function activationStack(log: readonly Activation[]): string[] {
  const stack: string[] = [];
  for (const entry of log) {
    if (entry.action === 'rollback') {
      stack.pop();
      // History older than the KV keeps may have held the model rolled back to.
      if (stack[stack.length - 1] !== entry.modelId) stack.push(entry.modelId);
    } else {
      stack.push(entry.modelId);
    }
  }
  return stack;
}

export class ModelRegistry implements ModelSource {
  private constructor(
    private readonly objects: ObjectStore,
    private readonly activeKv: KV,
  ) {}

  /** Creates or updates the object store and the activation bucket (`sluice bootstrap`). */
  static async apply(jetstream: JetStreamClient, options: { replicas?: number } = {}): Promise<void> {
    const replicas = options.replicas ?? 1;
    await new Objm(jetstream).create(MODELS_BUCKET, {
      description: 'Sluice ONNX models; metadata.manifest holds each model manifest',
      replicas,
    });
    await applyBucket(jetstream, {
      bucket: ACTIVE_BUCKET,
      description: 'Active model id per strategy; the key history is the activation log',
      history: ACTIVATION_HISTORY,
      replicas,
    });
  }

  /** Opens both buckets `sluice bootstrap` made; MissingTopologyError when one is not there. */
  static async open(jetstream: JetStreamClient): Promise<ModelRegistry> {
    // An object store is the stream OBJ_<bucket> (NATS ADR-20): asked directly, a missing one is a
    // typed StreamNotFound, where Objm.open says so only in its message.
    if (!(await streamExists(await jetstream.jetstreamManager(), `OBJ_${MODELS_BUCKET}`)))
      throw new MissingTopologyError(`object store ${MODELS_BUCKET}`);
    const objects = await new Objm(jetstream).open(MODELS_BUCKET, false);
    return new ModelRegistry(objects, await openBucket(jetstream, ACTIVE_BUCKET));
  }

  /** Stores a model after checking its bytes against the manifest. Pushing the same id again replaces it. */
  async push(manifest: ModelManifest, bytes: Uint8Array): Promise<void> {
    const checked = validateModelManifest(manifest);
    if (!checked.ok) throw new Error(`model ${manifest.modelId}: refused a bad manifest: ${checked.reason}`);
    verifyModelBytes(manifest, bytes);
    await this.objects.putBlob(
      {
        name: manifest.modelId,
        description: `${manifest.kind} model for feature set ${manifest.featureSet.version}`,
        metadata: { [MANIFEST_KEY]: JSON.stringify(manifest) },
      },
      bytes,
    );
  }

  async list(): Promise<ModelListing[]> {
    const infos = await this.objects.list();
    return infos
      .filter((info) => !info.deleted && info.metadata?.[MANIFEST_KEY] !== undefined)
      .map((info) => {
        const manifest = storedManifest(info.name, info.metadata?.[MANIFEST_KEY] ?? '');
        return {
          modelId: manifest.modelId,
          kind: manifest.kind,
          featureSetVersion: manifest.featureSet.version,
          sha256: manifest.onnx.sha256,
          bytes: manifest.onnx.bytes,
          createdAt: manifest.createdAt,
        };
      })
      .sort((a, b) => (a.modelId < b.modelId ? -1 : a.modelId > b.modelId ? 1 : 0));
  }

  async manifest(modelId: string): Promise<ModelManifest> {
    const info = await this.objects.info(modelId);
    const text = info && !info.deleted ? info.metadata?.[MANIFEST_KEY] : undefined;
    if (text === undefined) throw new Error(`model ${modelId} is not in the registry`);
    return storedManifest(modelId, text);
  }

  async load(modelId: string): Promise<LoadedModel> {
    const manifest = await this.manifest(modelId);
    const bytes = await this.objects.getBlob(modelId);
    if (bytes === null) throw new Error(`model ${modelId} has no bytes in the registry`);
    verifyModelBytes(manifest, bytes);
    return { manifest, bytes };
  }

  /** Makes `modelId` the active model of `strategy`; it must be in the registry. */
  async activate(strategy: string, modelId: string): Promise<void> {
    await this.manifest(modelId);
    await this.write(strategy, { modelId, action: 'activate' });
  }

  async active(strategy: string): Promise<string | undefined> {
    const entry = await this.activeKv.get(strategy);
    return entry && entry.operation === 'PUT' ? parseActivation(entry.value).modelId : undefined;
  }

  /** Re-activates the model active before the last activation; returns its id. */
  async rollback(strategy: string): Promise<string> {
    const stack = activationStack(await this.log(strategy));
    const previous = stack[stack.length - 2];
    if (previous === undefined) {
      throw new Error(`strategy ${strategy} has no earlier activation to roll back to`);
    }
    await this.write(strategy, { modelId: previous, action: 'rollback' });
    return previous;
  }

  async watch(strategy: string, onActivated: (modelId: string) => void): Promise<ModelWatch> {
    const updates = await this.activeKv.watch({ key: strategy, include: 'updates', ignoreDeletes: true });
    void (async () => {
      for await (const entry of updates) {
        if (entry.operation === 'PUT') onActivated(parseActivation(entry.value).modelId);
      }
    })();
    return { stop: () => updates.stop() };
  }

  private async log(strategy: string): Promise<Activation[]> {
    const log: Activation[] = [];
    const entries = await this.activeKv.history({ key: strategy });
    for await (const entry of entries) {
      if (entry.operation === 'PUT') log.push(parseActivation(entry.value));
    }
    return log;
  }

  /** Writes on top of the revision read, so two operators activating at once cannot both win. */
  private async write(strategy: string, activation: Activation): Promise<void> {
    const current = await this.activeKv.get(strategy);
    const payload = JSON.stringify(activation);
    if (current === null || current.revision === 0) await this.activeKv.create(strategy, payload);
    else await this.activeKv.update(strategy, payload, current.revision);
  }
}
