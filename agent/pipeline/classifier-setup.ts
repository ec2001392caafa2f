/** Engine selection + bundle verification + classifier loading, shared by `run`, `classify`, `eval` and updates. */
import type { AgentConfig } from '../config/schema.js';
import type { Logger } from '../core/log.js';
import type { EmotionClassifier } from '../emotion/classifier.js';
import { FlipAveragingClassifier } from '../emotion/flip-average.js';
import { loadClassifier } from '../emotion/load-classifier.js';
import { resolvePrecision, toModelSpec } from '../models/manifest.js';
import { selectEngine, type EngineChoice } from '../engines/select.js';
import { loadBundle } from '../models/bundle.js';

export interface LoadedModel {
  classifier: EmotionClassifier;
  choice: EngineChoice;
  dir: string;
  name: string;
  version: string;
  sha256: string;
}

export async function setupClassifier(cfg: AgentConfig, dir: string, log: Logger): Promise<LoadedModel> {
  const choice = await selectEngine(cfg.engine);
  for (const p of choice.probes) {
    if (!p.ok) log.info({ engine: p.engine, reason: p.detail }, 'engine not used');
  }
  const bundle = await loadBundle(dir);
  const precision = resolvePrecision(bundle.manifest, choice.engine, cfg.model.precision);
  const loaded = await loadClassifier(bundle.dir, toModelSpec(bundle.manifest, precision), choice.engine, cfg.threads);
  const classifier = cfg.model.flip_tta ? new FlipAveragingClassifier(loaded) : loaded;
  log.info({ engine: choice.engine, precision, threads: cfg.threads, flipTta: cfg.model.flip_tta, model: `${bundle.manifest.name}@${bundle.manifest.version}`, dir: bundle.dir }, 'classifier loaded');
  return { classifier, choice, dir: bundle.dir, name: bundle.manifest.name, version: bundle.manifest.version, sha256: bundle.manifestSha256 };
}
