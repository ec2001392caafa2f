/** `fer-agent ha remove`: clears this agent's retained discovery so Home Assistant deletes its device and entities. */
import { loadConfig, resolveCameras } from '../config/load.js';
import { createLogger } from '../core/log.js';
import { removeDiscovery } from '../homeassistant/remove.js';
import { overridesFrom, parse } from './args.js';

export async function haCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv);
  if (values.help || positionals[0] !== 'remove') {
    process.stdout.write('usage: fer-agent ha remove [--config FILE] [--mqtt-url URL]\n');
    return values.help ? 0 : 2;
  }
  const cfg = loadConfig({ file: values.config as string | undefined, overrides: overridesFrom(values) });
  const log = createLogger(cfg.log_level);
  const topics = await removeDiscovery({ cfg, cameras: resolveCameras(cfg).map((c) => ({ id: c.id, name: c.name })), log });
  process.stdout.write(`cleared ${topics.length} discovery topics\n`);
  return 0;
}
