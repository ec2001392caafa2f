/** `fer-agent run`: start the agent and keep it running until SIGINT/SIGTERM. */
import { loadConfig } from '../config/load.js';
import { createLogger } from '../core/log.js';
import { ModelUpdates } from '../models/runtime.js';
import { Agent } from '../pipeline/agent.js';
import { startHealth, startServices } from '../pipeline/services.js';
import { overridesFrom, parse } from './args.js';

export async function runCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv);
  if (values.help) {
    process.stdout.write('usage: fer-agent run [--config FILE] [--engine E] [--model DIR] [--mqtt-url URL|embedded|""] [--set key=value]\n');
    return 0;
  }
  const cfg = loadConfig({ file: values.config as string | undefined, overrides: overridesFrom(values) });
  const log = createLogger(cfg.log_level);
  // With a state dir, the last fully installed pushed model wins over model.path (see agent/models/README.md).
  const updates = ModelUpdates.fromConfig(cfg, log);
  const start = await updates?.startupModel();
  const agent = new Agent(cfg, log, start ? { modelDir: start.dir } : {});
  const health = await startHealth(agent);
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    void health.notifier.stopping();
    agent.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  await agent.start();
  await startServices(agent, { health, updates });
  const running = agent.run();
  await health.ready();
  await running;
  if (!stopping) {
    log.info('all sources ended');
    await agent.stop();
  }
  return 0;
}
