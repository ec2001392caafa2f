/** `fer-agent run`: start the agent and keep it running until SIGINT/SIGTERM. */
import { loadConfig } from '../config/load.js';
import { createLogger } from '../core/log.js';
import { createApp } from '../pipeline/app.js';
import { overridesFrom, parse } from './args.js';

export async function runCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv);
  if (values.help) {
    process.stdout.write('usage: fer-agent run [--config FILE] [--engine E] [--model DIR] [--mqtt-url URL|embedded|""] [--set key=value]\n');
    return 0;
  }
  const cfg = loadConfig({ file: values.config as string | undefined, overrides: overridesFrom(values) });
  const log = createLogger(cfg.log_level);
  const app = await createApp(cfg, log);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    void app.health.notifier.stopping();
    app.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  const { running } = await app.start();
  await app.health.ready();
  await running;
  if (!stopping) {
    log.info('all sources ended');
    await app.stop();
  }
  return 0;
}
