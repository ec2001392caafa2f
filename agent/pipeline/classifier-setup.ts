/** Engine selection + bundle verification + classifier loading, shared by `run`, `classify`, `eval` and updates. */
import type { AgentConfig } from '../config/schema.js';
import type { Logger } from '../core/log.js';
import type { EmotionClassifier } from '../emotion/classifier.js';
import { loadClassifier } from '../emotion/load-classifier.js';
import { toModelSpec } from '../models/manifest.js';
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
  const classifier = await loadClassifier(bundle.dir, toModelSpec(bundle.manifest), choice.engine, cfg.threads);
  log.info({ engine: choice.engine, threads: cfg.threads, model: `${bundle.manifest.name}@${bundle.manifest.version}`, dir: bundle.dir }, 'classifier loaded');
  return { classifier, choice, dir: bundle.dir, name: bundle.manifest.name, version: bundle.manifest.version, sha256: bundle.manifestSha256 };
}
