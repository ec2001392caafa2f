/**
 * Home Assistant MQTT discovery payloads, one small pure function per entity.
 *
 * Device-based discovery (Home Assistant 2024.11+): one retained `<prefix>/device/<device id>/config` per device
 * with `dev`, `o` (origin) and `cmps`. One device per camera (emotion, confidence, faces, presence, event, pause
 * switch) and one for the agent (diagnostics); the camera devices hang off the agent device (`via_device`).
 * Legacy discovery (older Home Assistant): the same entities, one `<prefix>/<platform>/<node>/<object>/config` each.
 *
 * Entity ids are suggested with both `object_id` (honoured up to 2025.x) and `default_entity_id` (its replacement;
 * older releases ignore it), so automations can rely on e.g. `sensor.fer_living_room_emotion`.
 */
import { OFFLINE, ONLINE, type AgentTopics } from '../core/topics.js';

export interface DiscoveryContext {
  /** Discovery prefix, `homeassistant` unless changed in Home Assistant. */
  prefix: string;
  agentId: string;
  topics: AgentTopics;
  /** The active model's labels (output order). */
  labels: readonly string[];
  /** `snapshot`: the camera publishes a picture per event (snapshot.enabled): it gets an image entity. */
  cameras: ReadonlyArray<{ id: string; name: string; snapshot?: boolean }>;
  origin: { name: string; sw: string; url?: string };
  /** Whether the board exposes a CPU temperature (else no such entity). */
  cpuTemperature: boolean;
  /** The retained model status topic when the agent accepts pushed models (model.state_dir set): adds an update entity. */
  modelStatusTopic?: string;
  /** The live view's URL when it is enabled: the device page links to it. */
  configurationUrl?: string;
}

export type Platform = 'sensor' | 'binary_sensor' | 'switch' | 'event' | 'update' | 'image';

/** One entity's discovery options (long key names; `platform` is only kept in device-based discovery). */
export interface Component {
  platform: Platform;
  unique_id: string;
  name: string;
  [key: string]: unknown;
}

export interface DiscoveryMessage {
  topic: string;
  /** Serialised JSON, or '' to remove (retained empty payload). */
  payload: string;
}

/** Lowercase a-z, 0-9 and single underscores: what Home Assistant accepts in an entity id. */
export function slug(s: string): string {
  const out = s.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  return out || 'x';
}

export const agentDeviceId = (agentId: string): string => `fer_${slug(agentId)}`;
export const cameraDeviceId = (agentId: string, cameraId: string): string => `fer_${slug(agentId)}_${slug(cameraId)}`;

/** The entity id a camera entity gets, e.g. `sensor.fer_living_room_emotion`. */
export function cameraEntityId(platform: Platform, cameraId: string, what: string): string {
  return `${platform}.fer_${slug(cameraId)}_${what}`;
}

export function agentEntityId(platform: Platform, agentId: string, what: string): string {
  return `${platform}.fer_${slug(agentId)}_${what}`;
}

/** Emotion options of the enum sensor: the labels, then `none` (nobody there). */
export function emotionOptions(labels: readonly string[]): string[] {
  return [...new Set([...labels, 'none'])];
}

/** Event types of the event entity: the labels, then `face_lost`. */
export function eventTypes(labels: readonly string[]): string[] {
  return [...new Set([...labels, 'face_lost'])];
}

function availability(ctx: DiscoveryContext): Array<Record<string, string>> {
  return [{ topic: ctx.topics.availability, payload_available: ONLINE, payload_not_available: OFFLINE }];
}

function ids(entityId: string): { object_id: string; default_entity_id: string } {
  return { object_id: entityId.slice(entityId.indexOf('.') + 1), default_entity_id: entityId };
}

/** `what` names the entity id; `key` (the component id, unique within the device) names the unique id. */
function cameraBase(ctx: DiscoveryContext, cameraId: string, platform: Platform, what: string, name: string, key = what): Component {
  return {
    platform,
    unique_id: `${cameraDeviceId(ctx.agentId, cameraId)}_${key}`,
    name,
    ...ids(cameraEntityId(platform, cameraId, what)),
    availability: availability(ctx),
  };
}

function agentBase(ctx: DiscoveryContext, what: string, name: string): Component {
  return {
    platform: 'sensor',
    unique_id: `${agentDeviceId(ctx.agentId)}_${what}`,
    name,
    ...ids(agentEntityId('sensor', ctx.agentId, what)),
    availability: availability(ctx),
    state_topic: ctx.topics.diagnostics,
    entity_category: 'diagnostic',
  };
}

export function emotionSensor(ctx: DiscoveryContext, cameraId: string): Component {
  return {
    ...cameraBase(ctx, cameraId, 'sensor', 'emotion', 'Emotion'),
    state_topic: ctx.topics.camera(cameraId).state,
    value_template: '{{ value_json.emotion }}',
    device_class: 'enum',
    options: emotionOptions(ctx.labels),
    icon: 'mdi:emoticon-outline',
  };
}

export function confidenceSensor(ctx: DiscoveryContext, cameraId: string): Component {
  return {
    ...cameraBase(ctx, cameraId, 'sensor', 'confidence', 'Confidence'),
    state_topic: ctx.topics.camera(cameraId).state,
    value_template: '{{ (value_json.confidence * 100) | round(0) }}',
    unit_of_measurement: '%',
    state_class: 'measurement',
    suggested_display_precision: 0,
    icon: 'mdi:gauge',
  };
}

export function faceCountSensor(ctx: DiscoveryContext, cameraId: string): Component {
  return {
    ...cameraBase(ctx, cameraId, 'sensor', 'faces', 'Faces'),
    state_topic: ctx.topics.camera(cameraId).state,
    value_template: '{{ value_json.faces }}',
    state_class: 'measurement',
    icon: 'mdi:account-multiple',
  };
}

export function presenceBinarySensor(ctx: DiscoveryContext, cameraId: string): Component {
  return {
    ...cameraBase(ctx, cameraId, 'binary_sensor', 'presence', 'Presence'),
    state_topic: ctx.topics.camera(cameraId).state,
    value_template: "{{ 'ON' if value_json.faces > 0 else 'OFF' }}",
    payload_on: 'ON',
    payload_off: 'OFF',
    device_class: 'occupancy',
  };
}

export function emotionEvent(ctx: DiscoveryContext, cameraId: string): Component {
  return {
    ...cameraBase(ctx, cameraId, 'event', 'emotion', 'Emotion change', 'emotion_event'),
    state_topic: ctx.topics.camera(cameraId).event,
    event_types: eventTypes(ctx.labels),
    qos: 1,
    icon: 'mdi:emoticon-excited-outline',
  };
}

export function pauseSwitch(ctx: DiscoveryContext, cameraId: string): Component {
  const t = ctx.topics.camera(cameraId);
  return {
    ...cameraBase(ctx, cameraId, 'switch', 'pause', 'Pause detection'),
    command_topic: t.pausedSet,
    state_topic: t.paused,
    payload_on: 'ON',
    payload_off: 'OFF',
    qos: 1,
    icon: 'mdi:pause-circle-outline',
  };
}

/** The picture of the last emotion event (opt-in): notifications attach it via /api/image_proxy/<entity>. */
export function snapshotImage(ctx: DiscoveryContext, cameraId: string): Component {
  return {
    ...cameraBase(ctx, cameraId, 'image', 'snapshot', 'Last emotion snapshot'),
    image_topic: ctx.topics.camera(cameraId).snapshot,
    content_type: 'image/jpeg',
    icon: 'mdi:camera-image',
  };
}

export function fpsSensor(ctx: DiscoveryContext): Component {
  return { ...agentBase(ctx, 'fps', 'Frame rate'), value_template: '{{ value_json.fps }}', unit_of_measurement: 'fps', state_class: 'measurement', suggested_display_precision: 1, icon: 'mdi:speedometer' };
}

export function latencySensor(ctx: DiscoveryContext): Component {
  return {
    ...agentBase(ctx, 'latency', 'Inference latency'),
    value_template: '{{ value_json.latency_ms }}',
    unit_of_measurement: 'ms',
    device_class: 'duration',
    state_class: 'measurement',
    suggested_display_precision: 0,
  };
}

export function engineSensor(ctx: DiscoveryContext): Component {
  return { ...agentBase(ctx, 'engine', 'Inference engine'), value_template: '{{ value_json.engine }}', icon: 'mdi:chip' };
}

export function modelVersionSensor(ctx: DiscoveryContext): Component {
  return { ...agentBase(ctx, 'model_version', 'Model version'), value_template: '{{ value_json.model_version }}', icon: 'mdi:brain' };
}

export function cpuTemperatureSensor(ctx: DiscoveryContext): Component {
  return {
    ...agentBase(ctx, 'cpu_temperature', 'CPU temperature'),
    value_template: '{{ value_json.cpu_temp_c }}',
    device_class: 'temperature',
    unit_of_measurement: '°C',
    state_class: 'measurement',
  };
}

export function droppedEventsSensor(ctx: DiscoveryContext): Component {
  return { ...agentBase(ctx, 'events_dropped', 'Events dropped'), value_template: '{{ value_json.events_dropped }}', state_class: 'total_increasing', icon: 'mdi:message-alert-outline' };
}

/** The components of one camera device, keyed by component id. */
export function cameraComponents(ctx: DiscoveryContext, cameraId: string): Record<string, Component> {
  return {
    emotion: emotionSensor(ctx, cameraId),
    confidence: confidenceSensor(ctx, cameraId),
    faces: faceCountSensor(ctx, cameraId),
    presence: presenceBinarySensor(ctx, cameraId),
    emotion_event: emotionEvent(ctx, cameraId),
    pause: pauseSwitch(ctx, cameraId),
    ...(ctx.cameras.find((c) => c.id === cameraId)?.snapshot ? { snapshot: snapshotImage(ctx, cameraId) } : {}),
  };
}

// The status payload carries more than the update entity knows; hand it only its own keys.
const UPDATE_VALUE_TEMPLATE =
  "{{ {'installed_version': value_json.installed_version, 'latest_version': value_json.latest_version, " +
  "'title': value_json.title, 'release_summary': value_json.release_summary, 'in_progress': value_json.in_progress} | to_json }}";

/** Installed and latest offered model version (agent/models/updates.ts publishes the status topic). */
export function modelUpdateEntity(ctx: DiscoveryContext, statusTopic: string): Component {
  return {
    platform: 'update',
    unique_id: `${agentDeviceId(ctx.agentId)}_model_update`,
    name: 'Expression model',
    ...ids(agentEntityId('update', ctx.agentId, 'model')),
    availability: availability(ctx),
    entity_category: 'diagnostic',
    icon: 'mdi:brain',
    state_topic: statusTopic,
    value_template: UPDATE_VALUE_TEMPLATE,
    json_attributes_topic: statusTopic,
    json_attributes_template: "{{ {'active': value_json.active, 'last_update': value_json.last_update} | to_json }}",
  };
}

export function agentComponents(ctx: DiscoveryContext): Record<string, Component> {
  return {
    ...(ctx.modelStatusTopic ? { model_update: modelUpdateEntity(ctx, ctx.modelStatusTopic) } : {}),
    fps: fpsSensor(ctx),
    latency: latencySensor(ctx),
    engine: engineSensor(ctx),
    model_version: modelVersionSensor(ctx),
    ...(ctx.cpuTemperature ? { cpu_temperature: cpuTemperatureSensor(ctx) } : {}),
    events_dropped: droppedEventsSensor(ctx),
  };
}

interface DeviceInfo {
  identifiers: string[];
  name: string;
  manufacturer: string;
  model: string;
  sw_version: string;
  via_device?: string;
  configuration_url?: string;
}

function agentDevice(ctx: DiscoveryContext): DeviceInfo {
  return {
    identifiers: [agentDeviceId(ctx.agentId)],
    name: `fer-agent ${ctx.agentId}`,
    manufacturer: 'fer-edge',
    model: 'fer-agent',
    sw_version: ctx.origin.sw,
    ...(ctx.configurationUrl ? { configuration_url: ctx.configurationUrl } : {}),
  };
}

function cameraDevice(ctx: DiscoveryContext, cam: { id: string; name: string }): DeviceInfo {
  return {
    identifiers: [cameraDeviceId(ctx.agentId, cam.id)],
    name: cam.name,
    manufacturer: 'fer-edge',
    model: 'fer-agent camera',
    sw_version: ctx.origin.sw,
    via_device: agentDeviceId(ctx.agentId),
    ...(ctx.configurationUrl ? { configuration_url: `${ctx.configurationUrl}#camera=${encodeURIComponent(cam.id)}` } : {}),
  };
}

function origin(ctx: DiscoveryContext): Record<string, string> {
  return { name: ctx.origin.name, sw: ctx.origin.sw, ...(ctx.origin.url ? { url: ctx.origin.url } : {}) };
}

export const deviceTopic = (prefix: string, deviceId: string): string => `${prefix}/device/${deviceId}/config`;

/** Device-based discovery: the agent device first (camera devices name it as `via_device`), then one per camera. */
export function deviceDiscovery(ctx: DiscoveryContext): DiscoveryMessage[] {
  const devices: Array<{ dev: DeviceInfo; cmps: Record<string, Component> }> = [
    { dev: agentDevice(ctx), cmps: agentComponents(ctx) },
    ...ctx.cameras.map((cam) => ({ dev: cameraDevice(ctx, cam), cmps: cameraComponents(ctx, cam.id) })),
  ];
  return devices.map(({ dev, cmps }) => ({
    topic: deviceTopic(ctx.prefix, dev.identifiers[0]),
    payload: JSON.stringify({ dev, o: origin(ctx), cmps }),
  }));
}

export const legacyTopic = (prefix: string, platform: Platform, nodeId: string, objectId: string): string => `${prefix}/${platform}/${nodeId}/${objectId}/config`;

/** Legacy discovery: one retained config per entity, each carrying its device and origin (no `platform` key). */
export function legacyDiscovery(ctx: DiscoveryContext): DiscoveryMessage[] {
  const out: DiscoveryMessage[] = [];
  const add = (dev: DeviceInfo, cmps: Record<string, Component>): void => {
    for (const [key, c] of Object.entries(cmps)) {
      const { platform, ...rest } = c;
      out.push({ topic: legacyTopic(ctx.prefix, platform, dev.identifiers[0], key), payload: JSON.stringify({ ...rest, device: dev, origin: origin(ctx) }) });
    }
  };
  add(agentDevice(ctx), agentComponents(ctx));
  for (const cam of ctx.cameras) add(cameraDevice(ctx, cam), cameraComponents(ctx, cam.id));
  return out;
}

/**
 * Empty retained payloads on every discovery topic of both kinds, which removes the devices and entities from
 * Home Assistant (`fer-agent ha remove`). The CPU temperature entity is included whether or not this board has one.
 */
export function removeDiscoveryMessages(ctx: DiscoveryContext): DiscoveryMessage[] {
  const all = { ...ctx, cpuTemperature: true, cameras: ctx.cameras.map((c) => ({ ...c, snapshot: true })) };
  return [...deviceDiscovery(all), ...legacyDiscovery(all)].map((m) => ({ topic: m.topic, payload: '' }));
}
