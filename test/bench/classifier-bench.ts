/**
 * Classifier benchmark (child process): faces/s and per-call latency at several batch sizes for our model on
 * onnxruntime and tfjs-wasm, face-api's faceExpressionNet and human's emotion model (both on tfjs-wasm), each with
 * its own preprocessing, from the same gray 48x48 crops; then accuracy of each on FER2013 PublicTest.
 */
import { existsSync } from 'node:fs';
import { readFerCsv } from '../../agent/evaluation/fer-csv.js';
import { loadFaceApiExpressions, loadHumanEmotion, loadOurs, type BenchClassifier } from './classifiers.js';
import { childMain } from './child.js';
import { FER2013_LABELS, ferIndexMap, predictedFerClass } from './labels.js';
import { measureCropCost, type CropCostRow } from './crop-bench.js';
import { summarize } from './stats.js';

export interface ClassifierBenchOptions {
  /** FER2013 CSV (.csv or .csv.gz); accuracy is skipped when it is missing. */
  fer: string;
  usage: string;
  threads: number;
  batches: number[];
  /** Timed seconds per model and batch size (at least minCalls calls). */
  seconds: number;
  minCalls: number;
  warmupCalls: number;
  /** At most this many test rows for accuracy (null: all). */
  accuracyLimit: number | null;
  accuracyBatch: number;
  /** Model ids to run (default all). */
  models?: string[];
  /** The bundle benched as ours (default: the bundled model). */
  modelDir?: string;
  /** Speed only: no model is scored (a release's bench runs before its rule decides, and PublicTest comes after). */
  noAccuracy?: boolean;
}

export interface SpeedRow {
  model: string;
  batch: number;
  calls: number;
  faces: number;
  seconds: number;
  facesPerS: number;
  msPerFace: number;
  callP50Ms: number;
  callP95Ms: number;
}

export interface AccuracyRow {
  model: string;
  n: number;
  accuracy: number;
  /** Recall per FER2013 class, in FER2013_LABELS order. */
  recall: number[];
  /** Throughput over the whole test set at accuracyBatch (preprocessing included). */
  facesPerS: number;
}

export interface ModelInfoRow {
  id: string;
  name: string;
  engine: string;
  input: string;
  weightBytes: number;
  labels: string[];
  /** Ours only: the bundle's manifest `runtime.flip_tta`. */
  flipTtaAuto?: 'auto' | 'off';
}

export interface ClassifierBenchResult {
  threads: number;
  data: { file: string; usage: string; rows: number; present: boolean; malformed: number; note?: string };
  models: ModelInfoRow[];
  speed: SpeedRow[];
  accuracy: AccuracyRow[];
  /** The Preprocessor's cost per face crop, upright and levelled (detection.roll_align), with the bundle's input spec. */
  crop?: CropCostRow[];
}

export const MODEL_LOADERS: Record<string, (threads: number, modelDir?: string) => Promise<BenchClassifier>> = {
  'ours-onnxruntime': (t, dir) => loadOurs('onnxruntime', t, false, 'auto', dir),
  'ours-onnxruntime-fp32': (t, dir) => loadOurs('onnxruntime', t, false, 'fp32', dir),
  'ours-onnxruntime-flip': (t, dir) => loadOurs('onnxruntime', t, true, 'auto', dir),
  'ours-tfjs-wasm': (t, dir) => loadOurs('tfjs-wasm', t, false, 'auto', dir),
  'face-api-tfjs-wasm': loadFaceApiExpressions,
  'human-tfjs-wasm': loadHumanEmotion,
};

interface TestSet {
  crops: Uint8Array[];
  truth: number[];
  malformed: number;
}

async function readTestSet(file: string, usage: string, limit: number): Promise<TestSet> {
  const set: TestSet = { crops: [], truth: [], malformed: 0 };
  for await (const row of readFerCsv(file, () => set.malformed++)) {
    if (row.usage !== usage) continue;
    if (row.label >= FER2013_LABELS.length) {
      set.malformed++;
      continue;
    }
    set.crops.push(row.pixels);
    set.truth.push(row.label);
    if (set.crops.length >= limit) break;
  }
  return set;
}

/** Deterministic face-sized noise for speed runs when no dataset is at hand (speed does not depend on content). */
function syntheticCrops(n: number, side: number): Uint8Array[] {
  let x = 12345;
  return Array.from({ length: n }, () => {
    const c = new Uint8Array(side * side);
    for (let i = 0; i < c.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      c[i] = x >>> 24;
    }
    return c;
  });
}

async function speed(clf: BenchClassifier, pool: readonly Uint8Array[], batch: number, o: ClassifierBenchOptions): Promise<SpeedRow> {
  let at = 0;
  const take = (): Uint8Array[] => Array.from({ length: batch }, () => pool[at++ % pool.length]!);
  for (let i = 0; i < o.warmupCalls; i++) await clf.classify(take(), 48);
  const calls: number[] = [];
  const t0 = performance.now();
  while (calls.length < o.minCalls || performance.now() - t0 < o.seconds * 1000) {
    const crops = take();
    const s = performance.now();
    await clf.classify(crops, 48);
    calls.push(performance.now() - s);
  }
  const seconds = (performance.now() - t0) / 1000;
  const faces = calls.length * batch;
  const lat = summarize(calls);
  return { model: clf.id, batch, calls: calls.length, faces, seconds, facesPerS: faces / seconds, msPerFace: (seconds * 1000) / faces, callP50Ms: lat.p50, callP95Ms: lat.p95 };
}

async function accuracy(clf: BenchClassifier, set: TestSet, batch: number): Promise<AccuracyRow> {
  const map = ferIndexMap(clf.labels);
  const k = FER2013_LABELS.length;
  const hits = new Array<number>(k).fill(0);
  const support = new Array<number>(k).fill(0);
  let correct = 0;
  const t0 = performance.now();
  for (let i = 0; i < set.crops.length; i += batch) {
    const crops = set.crops.slice(i, i + batch);
    const probs = await clf.classify(crops, 48);
    crops.forEach((_, j) => {
      const truth = set.truth[i + j]!;
      const pred = predictedFerClass(probs, j, map);
      support[truth]!++;
      if (pred === truth) {
        correct++;
        hits[truth]!++;
      }
    });
  }
  const seconds = (performance.now() - t0) / 1000;
  const n = set.crops.length;
  return { model: clf.id, n, accuracy: correct / n, recall: hits.map((h, c) => (support[c]! ? h / support[c]! : NaN)), facesPerS: n / seconds };
}

export async function runClassifierBench(o: ClassifierBenchOptions): Promise<ClassifierBenchResult> {
  const present = existsSync(o.fer);
  const limit = o.accuracyLimit ?? Infinity;
  const set: TestSet = present ? await readTestSet(o.fer, o.usage, limit) : { crops: [], truth: [], malformed: 0 };
  const pool = set.crops.length >= 8 ? set.crops.slice(0, 256) : syntheticCrops(64, 48);
  const result: ClassifierBenchResult = {
    threads: o.threads,
    data: {
      file: o.fer,
      usage: o.usage,
      rows: set.crops.length,
      present,
      malformed: set.malformed,
      ...(present ? (o.noAccuracy ? { note: `--no-accuracy: speed only, on ${set.crops.length >= 8 ? `the first ${pool.length} ${o.usage} crops as inputs (no label read)` : `${pool.length} synthetic 48x48 crops`}` } : {}) : { note: `${o.fer} not found: accuracy skipped; speed measured on synthetic 48x48 crops` }),
    },
    models: [],
    speed: [],
    accuracy: [],
  };
  for (const id of o.models ?? Object.keys(MODEL_LOADERS)) {
    const load = MODEL_LOADERS[id];
    if (!load) throw new Error(`unknown model ${id}; known: ${Object.keys(MODEL_LOADERS).join(', ')}`);
    const clf = await load(o.threads, o.modelDir);
    try {
      if (clf.spec && !result.crop) result.crop = measureCropCost(clf.spec, o.seconds > 0 ? 400 : 5, o.seconds > 0 ? 5 : 1);
      result.models.push({ id: clf.id, name: clf.name, engine: clf.engine, input: clf.input, weightBytes: clf.weightBytes, labels: [...clf.labels], ...(clf.flipTtaAuto ? { flipTtaAuto: clf.flipTtaAuto } : {}) });
      for (const b of o.batches) result.speed.push(await speed(clf, pool, b, o));
      if (set.crops.length > 0 && !o.noAccuracy) result.accuracy.push(await accuracy(clf, set, o.accuracyBatch));
    } finally {
      await clf.dispose();
    }
  }
  return result;
}

childMain(import.meta.url, runClassifierBench);
