/**
 * The agent built from a config, the one way every entry point does it: `fer-agent run` and the test fixtures run
 * it; `doctor`, `classify` and `eval` check or use the model it would serve (models/runtime.ts servingBundleDir).
 * Order: model updates resolve the startup model (the last installed version wins over model.path), the agent is
 * created, health comes up before anything else so it sees the first model and frames; start() loads the model and
 * cameras, starts MQTT, model updates, the Home Assistant websocket and the live view, and starts the frame loops.
 */
import type { AgentConfig } from '../config/schema.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import type { EventSink } from '../core/types.js';
import type { HealthService } from '../health/service.js';
import { ModelUpdates, type StartupModel } from '../models/runtime.js';
import type { StoreOptions } from '../models/store.js';
import { Agent } from './agent.js';
import { startHealth, startServices, type Services } from './services.js';

export interface AppOptions {
  clock?: Clock;
  /** Extra event sinks (tests). */
  sinks?: EventSink[];
  /** Crash tests: called at each step of the model store (see StoreOptions). */
  storeOnStep?: StoreOptions['onStep'];
}

export interface App {
  readonly agent: Agent;
  readonly health: HealthService;
  /** Null when model.state_dir is empty (no pushed models). */
  readonly updates: ModelUpdates | null;
  /** What the agent starts with; null without model updates (then model.path). */
  readonly startup: StartupModel | null;
  /** What start() brought up beside the frame loops (empty before). */
  readonly services: Services;
  /** Everything up and the frame loops running; `running` settles when they end (stop(), or every source ended). */
  start(): Promise<{ running: Promise<void> }>;
  stop(): Promise<void>;
}

export async function createApp(cfg: AgentConfig, log: Logger, opts: AppOptions = {}): Promise<App> {
  const updates = ModelUpdates.fromConfig(cfg, log, { ...(opts.clock ? { clock: opts.clock } : {}), ...(opts.storeOnStep ? { onStep: opts.storeOnStep } : {}) });
  const startup = (await updates?.startupModel()) ?? null;
  const agent = new Agent(cfg, log, { ...(startup ? { modelDir: startup.dir } : {}), ...(opts.clock ? { clock: opts.clock } : {}), ...(opts.sinks ? { sinks: opts.sinks } : {}) });
  const health = await startHealth(agent);
  const services: Services = {};
  return {
    agent,
    health,
    updates,
    startup,
    services,
    async start() {
      await agent.start();
      Object.assign(services, await startServices(agent, { health, updates }));
      return { running: agent.run() };
    },
    stop: () => agent.stop(),
  };
}
