// The pure core of the NewsActor, no I/O: which models can score news, the input row of a headline,
// and the sentiment_score a row of class probabilities makes.
// - label: the likeliest class; score = P(bullish) - P(bearish); confidence = P(label).
// - id sentimentIdFor(news id, model id), ts_event/ts_init copied from the news item (event time), and
//   news_id = the item's id (lineage).
import { sentimentIdFor } from '../../core/lineage-ids.ts';
import type { NewsItem, SentimentScore } from '../../schemas/messages.ts';
import type { ModelManifest } from '../../schemas/model-manifest.ts';
import { packSparseRows, type VectorizerConfig, vectorize } from './vectorizer.ts';

const LABELS = ['bearish', 'bullish', 'neutral'] as const;
type SentimentLabel = (typeof LABELS)[number];

/** Output column of each label. */
export type SentimentColumns = Readonly<Record<SentimentLabel, number>>;

/** A headline any sentiment model should score as probabilities: the smoke inference's input. */
const SMOKE_HEADLINE = 'Shares rise after the company beats earnings estimates and raises guidance';

/** The vectorizer and output columns of a sentiment model, or why `manifest` is not one. */
export function sentimentModel(
  manifest: ModelManifest,
): { vectorizer: VectorizerConfig; columns: SentimentColumns } | string {
  const { modelId, normalisation } = manifest;
  if (normalisation.kind !== 'hashed-ngrams') {
    return `model ${modelId} is a ${manifest.kind} model, not a hashed-n-gram sentiment model`;
  }
  const classes = manifest.output.classes;
  const columns = Object.fromEntries(LABELS.map((label) => [label, classes.indexOf(label)])) as Record<
    SentimentLabel,
    number
  >;
  if (classes.length !== LABELS.length || Object.values(columns).some((c) => c < 0)) {
    return `model ${modelId} has classes ${classes.join(', ')}; need ${LABELS.join(', ')}`;
  }
  return { vectorizer: normalisation.vectorizer, columns };
}

/** The model input of one headline: its hashed n-grams as packed sparse pairs. */
export function headlineRow(headline: string, vectorizer: VectorizerConfig): Float32Array {
  return packSparseRows([vectorize(headline, vectorizer)], vectorizer);
}

export function smokeRow(vectorizer: VectorizerConfig): Float32Array {
  return headlineRow(SMOKE_HEADLINE, vectorizer);
}

/** The label, score and confidence of one row of class probabilities (see the top of this file). */
export function sentimentOf(
  probabilities: ArrayLike<number>,
  columns: SentimentColumns,
): Pick<SentimentScore, 'label' | 'score' | 'confidence'> {
  let label: SentimentLabel = 'neutral';
  for (const candidate of LABELS) {
    if (probabilities[columns[candidate]]! > probabilities[columns[label]]!) label = candidate;
  }
  const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
  return {
    label,
    score: clamp(probabilities[columns.bullish]! - probabilities[columns.bearish]!, -1, 1),
    confidence: clamp(probabilities[columns[label]]!, 0, 1),
  };
}

/** The sentiment_score of `item` from the model's class probabilities. */
export function sentimentScore(
  item: NewsItem,
  probabilities: ArrayLike<number>,
  columns: SentimentColumns,
  modelId: string,
): SentimentScore {
  return {
    schema: 'sentiment_score.v1',
    id: sentimentIdFor(item.id, modelId),
    ts_event: item.ts_event,
    ts_init: item.ts_init,
    symbol: item.symbol,
    ...sentimentOf(probabilities, columns),
    model_version: modelId,
    news_id: item.id,
  };
}
