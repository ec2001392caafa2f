/**
 * `precision: auto` decisions kept in the state folder (`precision.json`), so a restart does not re-measure; keyed
 * by model digest, CPU, onnxruntime and threads (precision-choice.ts), so any change of those measures again.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '../core/log.js';
import type { PrecisionCache, PrecisionDecision } from '../engines/precision-choice.js';
import { atomicReplace, ensureDir } from '../models/fsutil.js';

const CACHE_FILE = 'precision.json';

interface CacheFile {
  decisions: Record<string, PrecisionDecision>;
}

function readCache(stateDir: string): CacheFile {
  try {
    const v = JSON.parse(readFileSync(path.join(stateDir, CACHE_FILE), 'utf8')) as unknown;
    if (typeof v === 'object' && v !== null && 'decisions' in v && typeof v.decisions === 'object' && v.decisions !== null) return v as CacheFile;
  } catch {
    // Missing or unreadable: measure again (the file is only a cache).
  }
  return { decisions: {} };
}

export function cachedDecision(stateDir: string | null, key: string): PrecisionDecision | null {
  if (!stateDir) return null;
  const d = readCache(stateDir).decisions[key];
  return d && (d.precision === 'int8' || d.precision === 'fp32') ? d : null;
}

/** The state folder's cache, or null without one (then every start measures); a failed save is logged, not fatal. */
export function stateDirCache(stateDir: string, log: Logger): PrecisionCache | null {
  if (!stateDir) return null;
  return {
    get: (key) => cachedDecision(stateDir, key),
    save: (d) => saveDecision(stateDir, d).catch((err: unknown) => log.warn({ err, stateDir }, 'precision decision not cached')),
  };
}

/** Keeps the decisions of the last few models so a rollback does not re-measure. */
export async function saveDecision(stateDir: string | null, d: PrecisionDecision, keep = 8): Promise<void> {
  if (!stateDir) return;
  const c = readCache(stateDir);
  c.decisions[d.key] = d;
  const entries = Object.entries(c.decisions).sort(([, x], [, y]) => y.decidedAt.localeCompare(x.decidedAt)).slice(0, keep);
  await ensureDir(stateDir);
  await atomicReplace(path.join(stateDir, CACHE_FILE), JSON.stringify({ decisions: Object.fromEntries(entries) }, null, 2) + '\n');
}
