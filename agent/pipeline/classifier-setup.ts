/** Engine selection + bundle verification + classifier loading, shared by `run`, `classify`, `eval` and updates. */
import type { AgentConfig } from '../config/schema.js';
import { readCpuClass } from '../core/cpu-class.js';
import type { Logger } from '../core/log.js';
import type { EmotionClassifier } from '../emotion/classifier.js';
import { FlipAveragingClassifier } from '../emotion/flip-average.js';
import { chooseFlipTta, validationFlipFigures, type FlipTtaChoice } from '../emotion/flip-choice.js';
import { loadClassifier } from '../emotion/load-classifier.js';
import { decidePrecision, int8AgreesWhereClear, precisionKey, type PrecisionDecision } from '../engines/precision-choice.js';
import { timeSideBySide } from '../engines/precision-probe.js';
import { selectEngine, type EngineChoice } from '../engines/select.js';
import { loadBundle } from '../models/bundle.js';
import { resolvePrecision, toModelSpec, type Manifest } from '../models/manifest.js';
import { selfTestBatch } from '../models/selftest.js';
import { stateDirCache } from './precision-cache.js';

export interface LoadedModel {
  classifier: EmotionClassifier;
  /** The same model without flip TTA: what the manifest's self-test cases expect (a mirrored average does not). */
  unmirrored: EmotionClassifier;
  choice: EngineChoice;
  dir: string;
  name: string;
  version: string;
  sha256: string;
  manifest: Manifest;
  /** How `model.precision: auto` was decided on this machine; null when the setting (or the engine) fixed it. */
  precisionDecision: PrecisionDecision | null;
  /** Whether each face is also classified mirrored (`model.flip_tta`), and why. */
  flipTta: FlipTtaChoice;
}

/** `{ [key]: value }`, or nothing for undefined (exactOptionalPropertyTypes). */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return value === undefined ? {} : ({ [key]: value } as { [P in K]?: V });
}

/** Faces per timed call: the agent classifies a frame's faces in one batch; 8 is a busy frame. */
const TIMING_BATCH = 8;

/**
 * `auto` on onnxruntime with an int8 model: both forms loaded, checked against each other on the self-test faces
 * (same top class wherever float32's is clear), timed side by side; the loser is released. Cached in `model.state_dir` by model digest, CPU,
 * onnxruntime and threads.
 */
async function decideAndLoad(cfg: AgentConfig, dir: string, m: Manifest, digest: string, choice: EngineChoice, log: Logger): Promise<{ classifier: EmotionClassifier; decision: PrecisionDecision }> {
  const cpu = readCpuClass();
  const runtime = choice.probes.find((p) => p.engine === choice.engine)?.detail ?? choice.engine;
  const key = precisionKey('classifier', digest, cpu, runtime, cfg.threads);
  const cache = stateDirCache(cfg.model.state_dir, log);
  const both: { fp32?: EmotionClassifier; int8?: EmotionClassifier } = {};
  try {
    const decision = await decidePrecision(key, async () => {
      const fp32 = (both.fp32 = await loadClassifier(dir, toModelSpec(m, 'fp32'), choice.engine, cfg.threads));
      const int8 = (both.int8 = await loadClassifier(dir, toModelSpec(m, 'int8'), choice.engine, cfg.threads));
      const cases = selfTestBatch(m, m.selftest);
      const n = m.selftest.cases.length;
      const k = m.labels.length;
      const [pf, pq] = [await fp32.classify(cases, n), await int8.classify(cases, n)];
      // The self-test faces are generated, so some are near ties between two classes: those may fall either way.
      const agrees = int8AgreesWhereClear(pf, pq, n, k, 2 * (m.engines.onnx_int8?.selftest.tolerance ?? m.selftest.tolerance));
      const per = cases.length / n;
      const batch = new Float32Array(per * TIMING_BATCH);
      for (let i = 0; i < TIMING_BATCH; i++) batch.set(cases.subarray((i % n) * per, ((i % n) + 1) * per), i * per);
      const [fp32Ms, int8Ms] = await timeSideBySide(() => fp32.classify(batch, TIMING_BATCH), () => int8.classify(batch, TIMING_BATCH));
      return { fp32Ms, int8Ms, agrees };
    }, cache);
    const keep = both[decision.precision] ?? (await loadClassifier(dir, toModelSpec(m, decision.precision), choice.engine, cfg.threads));
    both[decision.precision] = undefined;
    return { classifier: keep, decision };
  } finally {
    await both.fp32?.dispose();
    await both.int8?.dispose();
  }
}

export async function setupClassifier(cfg: AgentConfig, dir: string, log: Logger): Promise<LoadedModel> {
  const choice = await selectEngine(cfg.engine);
  for (const p of choice.probes) {
    if (!p.ok) log.info({ engine: p.engine, reason: p.detail }, 'engine not used');
  }
  const bundle = await loadBundle(dir);
  const m = bundle.manifest;
  const measure = cfg.model.precision === 'auto' && choice.engine === 'onnxruntime' && m.engines.onnx_int8 !== undefined;
  let loaded: EmotionClassifier;
  let decision: PrecisionDecision | null = null;
  if (measure) {
    ({ classifier: loaded, decision } = await decideAndLoad(cfg, bundle.dir, m, bundle.manifestSha256, choice, log));
    log.info({ precision: decision.precision, fp32Ms: +decision.fp32Ms.toFixed(3), int8Ms: +decision.int8Ms.toFixed(3), agrees: decision.agrees, why: decision.why }, 'model.precision auto: decided on this machine');
  } else {
    loaded = await loadClassifier(bundle.dir, toModelSpec(m, resolvePrecision(m, choice.engine, cfg.model.precision)), choice.engine, cfg.threads);
  }
  const precision = loaded.spec.precision;
  const flipTta = chooseFlipTta({
    setting: cfg.model.flip_tta,
    ...optional('bundle', m.runtime?.flip_tta),
    precision,
    ...optional('validation', validationFlipFigures(m.training, precision)),
    ...optional('timing', decision ?? undefined),
  });
  const classifier = flipTta.on ? new FlipAveragingClassifier(loaded) : loaded;
  log.info({ engine: choice.engine, precision, threads: cfg.threads, flipTta: flipTta.on, flipTtaWhy: flipTta.why, model: `${m.name}@${m.version}`, dir: bundle.dir }, 'classifier loaded');
  return { classifier, unmirrored: loaded, choice, dir: bundle.dir, name: m.name, version: m.version, sha256: bundle.manifestSha256, manifest: m, precisionDecision: decision, flipTta };
}
