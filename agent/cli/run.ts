/** `fer-agent run`: start the agent and keep it running until SIGINT/SIGTERM. */
import { loadConfig } from '../config/load.js';
import { FerError, errorMessage } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { createApp, type App } from '../pipeline/app.js';
import { overridesFrom, parse } from './args.js';

/** How long a failed start may take to stop what it started before the process exits anyway. */
const FAILED_START_STOP_MS = 10_000;
/**
 * How long a stop may take before the process exits anyway: under systemd's TimeoutStopSec (20 s), so that the agent
 * ends by itself, saying so, rather than by SIGKILL. Every part bounds its own waits well within this (a half-open
 * broker link takes about 9 s: test/faults/stop-half-open.test.ts); this is the net under them.
 */
const STOP_DEADLINE_MS = 15_000;

export async function runCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv);
  if (values.help) {
    process.stdout.write('usage: fer-agent run [--config FILE] [--engine E] [--model DIR] [--mqtt-url URL|embedded|""] [--set key=value]\n');
    return 0;
  }
  const cfg = loadConfig({ file: values.config as string | undefined, overrides: overridesFrom(values) });
  const log = createLogger(cfg.log_level);
  let app: App | undefined;
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping || !app) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    setTimeout(() => {
      log.error({ signal }, `stop did not finish within ${STOP_DEADLINE_MS / 1000} s; exiting without waiting for the rest`);
      process.exit(1);
    }, STOP_DEADLINE_MS).unref();
    void app.health.notifier.stopping();
    app.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
  let running: Promise<void>;
  try {
    app = await createApp(cfg, log);
    ({ running } = await app.start());
    await app.health.ready();
  } catch (err) {
    // A failed start ends the process, with the code systemd acts on (78, EX_CONFIG, for a configuration problem:
    // RestartPreventExitStatus), after stopping whatever had started (broker link, health endpoint, embedded
    // broker): left running they would keep the process up, retained "online" and all, until systemd's start timeout.
    const code = err instanceof FerError && err.reason === 'config_invalid' ? 78 : 1;
    setTimeout(() => process.exit(code), FAILED_START_STOP_MS + 1000).unref();
    if (app) {
      stopping = true;
      const stopped = app.stop().catch((e: unknown) => log.warn({ err: errorMessage(e) }, 'stopping after a failed start'));
      await Promise.race([stopped, new Promise((resolve) => setTimeout(resolve, FAILED_START_STOP_MS).unref())]);
    }
    throw err;
  }
  await running;
  if (!stopping) {
    log.info('all sources ended');
    await app.stop();
  }
  return 0;
}
