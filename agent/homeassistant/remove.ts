/**
 * What `fer-agent ha remove` clears: every discovery topic (device-based and legacy), whose empty retained payload
 * makes Home Assistant delete the agent's devices and entities, plus the retained state topics so nothing
 * re-creates stale values. Pure: the command (cli/ha-command.ts) publishes them.
 */
import type { AgentConfig } from '../config/schema.js';
import { agentTopics } from '../core/topics.js';
import { removeDiscoveryMessages } from './discovery.js';

export interface RemoveDiscoveryOptions {
  cfg: AgentConfig;
  cameras: ReadonlyArray<{ id: string; name: string }>;
  /** Also clear the retained availability, state, paused and diagnostics topics (default true). */
  clearState?: boolean;
}

/** The retained topics to clear (with an empty retained payload). */
export function discoveryTopicsToClear(opts: RemoveDiscoveryOptions): string[] {
  const { cfg } = opts;
  const topics = agentTopics(cfg.mqtt.base_topic, cfg.agent_id);
  const ctx = {
    prefix: cfg.homeassistant.prefix,
    agentId: cfg.agent_id,
    topics,
    labels: [],
    cameras: opts.cameras,
    origin: { name: 'fer-edge', sw: '' },
    cpuTemperature: true,
  };
  const cleared = removeDiscoveryMessages(ctx).map((m) => m.topic);
  if (opts.clearState ?? true) {
    cleared.push(topics.availability, topics.diagnostics);
    for (const c of opts.cameras) cleared.push(topics.camera(c.id).state, topics.camera(c.id).paused);
  }
  return cleared;
}
