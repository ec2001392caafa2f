/**
 * Which bundle the per-class checks (x86 CPU classes under qemu, arm64) run: the bundled default, or a release
 * candidate named by FER_CANDIDATE_MODEL=DIR. training/tools/release_check.py --per-class sets it, so a candidate
 * meets these checks before it replaces the bundled default, not after (1.5.2 failed Nehalem only once in place).
 * The child processes get `--model DIR`; their environment stays clean of FER_* settings.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

export interface ModelUnderTest {
  /** Arguments for `fer-agent classify`: none for the bundled default. */
  args: string[];
  /** For test logs and failure messages. */
  label: string;
}

/** FER_CANDIDATE_MODEL's bundle, or the bundled default when it is unset or empty; a clear error when it names no bundle. */
export function modelUnderTest(env: NodeJS.ProcessEnv = process.env): ModelUnderTest {
  const dir = env.FER_CANDIDATE_MODEL;
  if (dir === undefined || dir === '') return { args: [], label: 'the bundled default model' };
  const abs = path.resolve(dir);
  if (!existsSync(path.join(abs, 'manifest.json'))) throw new Error(`FER_CANDIDATE_MODEL=${dir}: ${abs} holds no manifest.json, so it is not a model bundle`);
  return { args: ['--model', abs], label: `candidate ${abs}` };
}
