/**
 * Every MQTT topic the agent uses, built in one place from the base topic and the agent id:
 *   <base>/<agent>/availability             retained `online` / `offline` (Last Will)
 *   <base>/<agent>/diagnostics              retained JSON
 *   <base>/<agent>/errors                   JSON, not retained
 *   <base>/<agent>/command                  JSON commands in
 *   <base>/<agent>/command/reply            JSON answers (errors included)
 *   <base>/<agent>/<camera>/state           retained JSON
 *   <base>/<agent>/<camera>/event           JSON, QoS 1, never retained
 *   <base>/<agent>/<camera>/paused          retained `ON` / `OFF`
 *   <base>/<agent>/<camera>/paused/set      `ON` / `OFF` in (the Home Assistant switch)
 *   <base>/<agent>/<camera>/snapshot        JPEG of the last emotion event, not retained (opt-in: snapshot.enabled)
 *   <base>/<agent>/_sync                     the agent's own echo, a barrier after subscribing
 * Model updates and releases have their own (models/transport.ts, models/release-record.ts): `<base>/<target>/model/…`
 * and `<base>/_blob/…`.
 */
import { FerError } from './errors.js';

/** The availability topic's two payloads (also Home Assistant's payload_available / payload_not_available). */
export const ONLINE = 'online';
export const OFFLINE = 'offline';

export interface CameraTopics {
  state: string;
  event: string;
  paused: string;
  pausedSet: string;
  /** The JPEG of the last emotion event (opt-in: snapshot.enabled), not retained. */
  snapshot: string;
}

export interface AgentTopics {
  root: string;
  availability: string;
  diagnostics: string;
  errors: string;
  command: string;
  commandReply: string;
  /** Subscription filters. */
  pausedAll: string;
  pausedSetAll: string;
  /** A private echo topic used as a barrier after subscribing (retained messages arrive before it). */
  sync: string;
  camera(cameraId: string): CameraTopics;
  /** The camera id in `<root>/<camera>/paused` or `.../paused/set`, if `topic` is one of those. */
  pausedCamera(topic: string): { cameraId: string; set: boolean } | undefined;
}

const SEGMENT_RE = /^[^+#/\u0000]+$/;

/** Checks a base topic like `fer` or `home/fer`: no wildcards, no empty levels. */
export function validateBaseTopic(base: string): void {
  if (base.length === 0 || base.split('/').some((s) => !SEGMENT_RE.test(s))) {
    throw new FerError('config_invalid', `mqtt.base_topic = ${JSON.stringify(base)} is invalid: expected topic levels without +, # or empty levels, e.g. "fer"`);
  }
}

export function agentTopics(base: string, agentId: string): AgentTopics {
  validateBaseTopic(base);
  if (!SEGMENT_RE.test(agentId)) throw new FerError('config_invalid', `agent_id = ${JSON.stringify(agentId)} cannot be an MQTT topic level`);
  const root = `${base}/${agentId}`;
  const camera = (cameraId: string): CameraTopics => ({
    state: `${root}/${cameraId}/state`,
    event: `${root}/${cameraId}/event`,
    paused: `${root}/${cameraId}/paused`,
    pausedSet: `${root}/${cameraId}/paused/set`,
    snapshot: `${root}/${cameraId}/snapshot`,
  });
  return {
    root,
    availability: `${root}/availability`,
    diagnostics: `${root}/diagnostics`,
    errors: `${root}/errors`,
    command: `${root}/command`,
    commandReply: `${root}/command/reply`,
    pausedAll: `${root}/+/paused`,
    pausedSetAll: `${root}/+/paused/set`,
    sync: `${root}/_sync`,
    camera,
    pausedCamera(topic: string) {
      if (!topic.startsWith(root + '/')) return undefined;
      const rest = topic.slice(root.length + 1).split('/');
      if (rest.length === 2 && rest[1] === 'paused') return { cameraId: rest[0], set: false };
      if (rest.length === 3 && rest[1] === 'paused' && rest[2] === 'set') return { cameraId: rest[0], set: true };
      return undefined;
    },
  };
}

/** MQTT filter matching: `+` is one level, a trailing `#` any number (including none) of the rest. */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return i === f.length - 1;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
