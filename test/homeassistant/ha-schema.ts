/**
 * The discovery options Home Assistant documents for the MQTT platforms we use, written down from the
 * configuration blocks of home-assistant.io's source/_integrations/{sensor,binary_sensor,switch,event}.mqtt.markdown
 * and the device-discovery section of mqtt.markdown (current docs, which list `platform`, `default_entity_id`;
 * `object_id` is from the 2025.x docs). A checker returns every problem it finds, so a test can show them all.
 */

/** Keys every MQTT entity platform documents. */
const COMMON = [
  'availability', 'availability_mode', 'availability_template', 'availability_topic', 'default_entity_id', 'object_id',
  'device', 'enabled_by_default', 'encoding', 'entity_category', 'entity_picture', 'icon', 'json_attributes_template',
  'json_attributes_topic', 'name', 'payload_available', 'payload_not_available', 'platform', 'qos', 'unique_id',
];

interface PlatformSchema {
  allowed: string[];
  required: string[];
  deviceClasses: string[];
}

export const PLATFORMS: Record<string, PlatformSchema> = {
  sensor: {
    allowed: [...COMMON, 'device_class', 'expire_after', 'force_update', 'last_reset_value_template', 'options', 'suggested_display_precision', 'state_class', 'state_topic', 'unit_of_measurement', 'value_template'],
    required: ['state_topic'],
    // A subset of https://www.home-assistant.io/integrations/sensor/#device-class (those an emotion agent could use).
    deviceClasses: ['enum', 'temperature', 'duration', 'timestamp', 'data_rate', 'data_size', 'frequency', 'signal_strength', 'voltage', 'power'],
  },
  binary_sensor: {
    allowed: [...COMMON, 'device_class', 'expire_after', 'force_update', 'off_delay', 'payload_off', 'payload_on', 'state_topic', 'value_template'],
    required: ['state_topic'],
    deviceClasses: ['occupancy', 'presence', 'motion', 'problem', 'running', 'connectivity'],
  },
  switch: {
    allowed: [...COMMON, 'command_template', 'command_topic', 'device_class', 'optimistic', 'payload_off', 'payload_on', 'retain', 'state_off', 'state_on', 'state_topic', 'value_template'],
    required: ['command_topic'],
    deviceClasses: ['outlet', 'switch'],
  },
  event: {
    allowed: [...COMMON, 'device_class', 'event_types', 'state_topic', 'value_template'],
    required: ['event_types', 'state_topic'],
    deviceClasses: ['button', 'doorbell', 'motion'],
  },
  // https://www.home-assistant.io/integrations/update.mqtt/ (our use needs the state topic).
  update: {
    allowed: [...COMMON, 'command_topic', 'device_class', 'display_precision', 'entity_picture', 'latest_version_template', 'latest_version_topic', 'payload_install', 'release_summary', 'release_url', 'retain', 'state_topic', 'title', 'value_template'],
    required: ['state_topic'],
    deviceClasses: ['firmware'],
  },
};

const AVAILABILITY_KEYS = ['topic', 'payload_available', 'payload_not_available', 'value_template'];
const DEVICE_KEYS = ['configuration_url', 'connections', 'hw_version', 'identifiers', 'manufacturer', 'model', 'model_id', 'name', 'serial_number', 'suggested_area', 'sw_version', 'via_device'];
/** mqtt.markdown: origin has `name` (required), `sw_version` (abbreviated `sw`) and `support_url` (abbreviated `url`). */
const ORIGIN_KEYS = ['name', 'sw_version', 'sw', 'support_url', 'url'];
const STATE_CLASSES = ['measurement', 'measurement_angle', 'total', 'total_increasing'];
const ENTITY_ID_RE = /^[a-z0-9_]+\.[a-z0-9_]+$/;

const isStr = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

export function checkOrigin(o: unknown, where: string): string[] {
  if (typeof o !== 'object' || o === null) return [`${where}: origin missing`];
  const p: string[] = [];
  for (const k of Object.keys(o)) if (!ORIGIN_KEYS.includes(k)) p.push(`${where}: origin key ${k} not documented`);
  if (!isStr((o as Record<string, unknown>).name)) p.push(`${where}: origin.name is required`);
  return p;
}

export function checkDevice(d: unknown, where: string): string[] {
  if (typeof d !== 'object' || d === null) return [`${where}: device missing`];
  const dev = d as Record<string, unknown>;
  const p: string[] = [];
  for (const k of Object.keys(dev)) if (!DEVICE_KEYS.includes(k)) p.push(`${where}: device key ${k} not documented`);
  const ids = dev.identifiers;
  const okIds = isStr(ids) || (Array.isArray(ids) && ids.length > 0 && ids.every(isStr));
  if (!okIds && !Array.isArray(dev.connections)) p.push(`${where}: device needs identifiers or connections`);
  return p;
}

/**
 * One entity's options. `deviceBased`: inside a device discovery `cmps` (platform and unique_id required there);
 * otherwise a legacy per-entity payload (no `platform`, which is only allowed in device messages).
 */
export function checkComponent(c: Record<string, unknown>, platform: string, where: string, deviceBased: boolean): string[] {
  const schema = PLATFORMS[platform];
  if (!schema) return [`${where}: platform ${platform} not covered by this checker`];
  const p: string[] = [];
  const allowed = deviceBased ? schema.allowed : [...schema.allowed.filter((k) => k !== 'platform'), 'origin', 'device'];
  for (const k of Object.keys(c)) if (!allowed.includes(k)) p.push(`${where}: key ${k} not documented for ${platform}${!deviceBased && k === 'platform' ? ' outside device discovery' : ''}`);
  for (const k of schema.required) if (c[k] === undefined) p.push(`${where}: ${k} is required for ${platform}`);
  if (deviceBased) {
    if (c.platform !== platform) p.push(`${where}: platform must be ${platform}`);
    if (!isStr(c.unique_id)) p.push(`${where}: unique_id is required with device-based discovery`);
  } else if (c.device !== undefined && !isStr(c.unique_id)) p.push(`${where}: device only works with unique_id`);
  if (c.availability !== undefined && c.availability_topic !== undefined) p.push(`${where}: availability and availability_topic must not be used together`);
  if (c.availability !== undefined) {
    if (!Array.isArray(c.availability) || c.availability.length === 0) p.push(`${where}: availability must be a non-empty list`);
    else
      for (const a of c.availability as Array<Record<string, unknown>>) {
        if (!isStr(a.topic)) p.push(`${where}: availability[].topic is required`);
        for (const k of Object.keys(a)) if (!AVAILABILITY_KEYS.includes(k)) p.push(`${where}: availability key ${k} not documented`);
      }
  }
  if (c.device_class !== undefined && c.device_class !== null && !schema.deviceClasses.includes(String(c.device_class))) p.push(`${where}: device_class ${String(c.device_class)} unknown for ${platform}`);
  if (c.state_class !== undefined && !STATE_CLASSES.includes(String(c.state_class))) p.push(`${where}: state_class ${String(c.state_class)} unknown`);
  if (c.qos !== undefined && ![0, 1, 2].includes(c.qos as number)) p.push(`${where}: qos must be 0, 1 or 2`);
  if (c.entity_category !== undefined && !['config', 'diagnostic'].includes(String(c.entity_category))) p.push(`${where}: entity_category must be config or diagnostic`);
  if (platform === 'sensor' && c.entity_category !== undefined && c.entity_category !== 'diagnostic') p.push(`${where}: a sensor's entity_category must be diagnostic`);
  if (platform === 'sensor' && c.options !== undefined) {
    if (c.device_class !== 'enum') p.push(`${where}: options need device_class enum`);
    if (!Array.isArray(c.options) || c.options.length === 0 || !c.options.every(isStr)) p.push(`${where}: options must be a non-empty list of strings`);
    if (c.state_class !== undefined || c.unit_of_measurement !== undefined) p.push(`${where}: options cannot be used with state_class or unit_of_measurement`);
  }
  if (platform === 'sensor' && c.device_class === 'enum' && c.options === undefined) p.push(`${where}: an enum sensor needs options`);
  if (platform === 'event' && (!Array.isArray(c.event_types) || c.event_types.length === 0 || !c.event_types.every(isStr))) p.push(`${where}: event_types must be a non-empty list of strings`);
  if (c.default_entity_id !== undefined) {
    const id = String(c.default_entity_id);
    if (!ENTITY_ID_RE.test(id) || !id.startsWith(`${platform}.`)) p.push(`${where}: default_entity_id ${id} must look like ${platform}.some_id`);
    if (c.object_id !== undefined && `${platform}.${String(c.object_id)}` !== id) p.push(`${where}: object_id and default_entity_id disagree`);
  }
  for (const k of ['state_topic', 'command_topic', 'json_attributes_topic']) {
    const v = c[k];
    if (v !== undefined && (!isStr(v) || /[+#]/.test(v))) p.push(`${where}: ${k} must be a topic without wildcards`);
  }
  return p;
}

/** A device-based discovery message: `<prefix>/device/<id>/config` with dev, o and cmps (abbreviated or long). */
export function checkDeviceMessage(topic: string, payload: string, prefix = 'homeassistant'): string[] {
  const p: string[] = [];
  if (!new RegExp(`^${prefix}/device/[a-zA-Z0-9_-]+/config$`).test(topic)) p.push(`${topic}: not a device discovery topic`);
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(payload) as Record<string, unknown>;
  } catch {
    return [...p, `${topic}: payload is not JSON`];
  }
  const dev = v.dev ?? v.device;
  const o = v.o ?? v.origin;
  const cmps = (v.cmps ?? v.components) as Record<string, Record<string, unknown>> | undefined;
  p.push(...checkDevice(dev, topic), ...checkOrigin(o, topic));
  if (!cmps || typeof cmps !== 'object' || Object.keys(cmps).length === 0) return [...p, `${topic}: cmps must hold at least one component`];
  for (const [id, c] of Object.entries(cmps)) {
    if (!/^[a-zA-Z0-9_-]+$/.test(id)) p.push(`${topic}: component id ${id} has characters outside [a-zA-Z0-9_-]`);
    const platform = String(c.platform ?? c.p);
    const long = { ...c };
    if ('p' in long) {
      long.platform = long.p;
      delete long.p;
    }
    p.push(...checkComponent(long, platform, `${topic} cmps.${id}`, true));
  }
  return p;
}
