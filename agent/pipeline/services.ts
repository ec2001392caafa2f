/**
 * Optional parts started beside the frame loops, each only when its config asks for it, each registered with the
 * agent so it stops in reverse order: health/metrics, MQTT (+ Home Assistant discovery), model updates, the Home
 * Assistant websocket sink, the live view.
 */
import { resolveCameras } from '../config/load.js';
import { startHealthService, type HealthService } from '../health/service.js';
import { startHomeAssistantWs } from '../homeassistant/websocket-sink.js';
import type { ModelUpdates } from '../models/runtime.js';
import { connectUpdates, type UpdateConnection } from '../mqtt/update-link.js';
import { startMqtt } from './mqtt.js';
import { startLiveViewIfEnabled } from '../web/live-view.js';
import type { Agent } from './agent.js';

/** Health first (before agent.start) so it sees the first model and frames. */
export async function startHealth(agent: Agent): Promise<HealthService> {
  const { cfg } = agent;
  const health = await startHealthService({
    bus: agent.bus,
    cameras: resolveCameras(cfg).map((c) => ({ id: c.id, fps: c.fps })),
    mqttConfigured: cfg.mqtt.url !== '',
    health: cfg.health,
    logger: agent.log,
    isPaused: (id) => agent.isPaused(id),
  });
  agent.addService(health);
  return health;
}

export interface Services {
  /** The model-update connection, when updates are on and a broker is configured. */
  updateConnection?: UpdateConnection;
}

export async function startServices(agent: Agent, opts: { health?: HealthService; updates?: ModelUpdates | null } = {}): Promise<Services> {
  const started: Services = {};
  const { cfg, log } = agent;
  const cameras = resolveCameras(cfg).map((c) => ({ id: c.id, name: c.name, snapshot: c.snapshot.enabled }));

  const broker = await startMqtt({ cfg, bus: agent.bus, control: agent, log, cameras, labels: agent.model.labels });
  agent.addService(broker);
  // The first 'model' event went out in agent.start(), before MQTT listened: announce the active model again so
  // diagnostics and Home Assistant's update entity show it from the start.
  agent.bus.emit('model', agent.model);
  if (opts.health && cfg.mqtt.url) {
    const metrics = opts.health.metrics;
    const timer = setInterval(() => {
      metrics.setBrokerConnected(broker.connected());
      metrics.setMqttQueueDepth(broker.queueDepth());
    }, 1000);
    timer.unref();
    agent.addService({ stop: async () => clearInterval(timer) });
  }

  const updates = opts.updates;
  if (updates) {
    await updates.enable({ engine: agent.engine, activate: async (dir) => void (await agent.activateModel(dir)) });
    if (broker.url) {
      const conn = connectUpdates(cfg.mqtt, cfg.agent_id, broker.url, log);
      await updates.attach(conn.link);
      agent.addService(conn);
      started.updateConnection = conn;
    }
    agent.addService({ stop: () => updates.stop() });
  }

  if (cfg.homeassistant.websocket_url) {
    const ws = await startHomeAssistantWs({ url: cfg.homeassistant.websocket_url, token: cfg.homeassistant.token, agentId: cfg.agent_id, bus: agent.bus, log, cameras, control: agent, maxAgeMs: cfg.mqtt.event_max_age_s * 1000, queueMax: cfg.mqtt.offline_queue_max });
    agent.addService(ws);
  }

  const lv = await startLiveViewIfEnabled(agent, log);
  if (lv) agent.addService(lv);
  return started;
}
