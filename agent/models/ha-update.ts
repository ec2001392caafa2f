/**
 * Home Assistant MQTT `update` entity for the expression model: shows the installed version and the newest one
 * offered to this agent (a rejected push shows as an available update, with the reason in the summary). Reads
 * the retained model status topic; the MQTT helper adds the component to the agent's device discovery.
 */
import { topics } from './transport.js';

export interface UpdateEntityOptions {
  agentId: string;
  baseTopic: string;
  /** Entity name shown in Home Assistant. */
  name?: string;
  /** The agent's availability (the discovery helper's usual list), so the entity greys out with the agent. */
  availability?: ReadonlyArray<Record<string, string>>;
}

/** As agent/homeassistant/discovery.ts: lowercase a-z, 0-9 and single underscores. */
function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '') || 'x';
}

/** One component for device-based discovery (`cmps` in `<prefix>/device/<id>/config`); keys are unabbreviated. */
export interface UpdateEntityComponent {
  /** Key under `cmps` (also the object id for per-entity discovery: `<prefix>/update/<agent>/<key>/config`). */
  key: string;
  config: Record<string, unknown>;
}

// The status payload carries more than the update entity knows; hand it only its own keys.
const VALUE_TEMPLATE =
  "{{ {'installed_version': value_json.installed_version, 'latest_version': value_json.latest_version, " +
  "'title': value_json.title, 'release_summary': value_json.release_summary, 'in_progress': value_json.in_progress} | to_json }}";

export function modelUpdateComponent(o: UpdateEntityOptions): UpdateEntityComponent {
  const statusTopic = topics.status(o.baseTopic, o.agentId);
  const id = `fer_${slug(o.agentId)}`;
  return {
    key: 'model_update',
    config: {
      platform: 'update',
      name: o.name ?? 'Expression model',
      unique_id: `${id}_model_update`,
      object_id: `${id}_model`,
      default_entity_id: `update.${id}_model`,
      ...(o.availability ? { availability: o.availability } : {}),
      entity_category: 'diagnostic',
      icon: 'mdi:brain',
      state_topic: statusTopic,
      value_template: VALUE_TEMPLATE,
      json_attributes_topic: statusTopic,
      json_attributes_template: "{{ {'active': value_json.active, 'last_update': value_json.last_update} | to_json }}",
    },
  };
}
