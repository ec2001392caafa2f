/** Which bundle a command uses: --model DIR when given, else the one `fer-agent run` would serve. */
import type { AgentConfig } from '../config/schema.js';
import type { Logger } from '../core/log.js';
import { servingBundleDir } from '../models/runtime.js';

export async function commandModelDir(cfg: AgentConfig, explicitModel: unknown, log: Logger): Promise<string> {
  if (typeof explicitModel === 'string') return cfg.model.path;
  const s = await servingBundleDir(cfg, log);
  // An installed pushed version wins over model.path, as in `run`: check and measure what would serve.
  if (s.source === 'installed') log.info({ dir: s.dir }, 'using the installed model version the agent serves (--model DIR chooses another)');
  return s.dir;
}
