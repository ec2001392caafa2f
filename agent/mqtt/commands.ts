/**
 * Parsing of command payloads (pure). Anything may arrive on a command topic, so every input gives either a
 * command or an error message that names what is wrong; nothing here throws.
 *
 *   <base>/<agent>/command        {"command": "pause" | "resume", "camera"?: "<id>", "id"?: "<your id>"}
 *                                 {"command": "republish", "id"?: ...}
 *   <base>/<agent>/<cam>/paused/set   ON | OFF   (the Home Assistant switch; ON = paused)
 */

export type Command = { kind: 'pause' | 'resume'; cameras: string[] } | { kind: 'republish' };

export type RequestId = string | number;

export type ParsedCommand = { ok: true; command: Command; id?: RequestId } | { ok: false; error: string; id?: RequestId };

export interface CommandReply {
  ok: boolean;
  id?: RequestId;
  command?: string;
  error?: { reason: 'command_invalid'; message: string };
}

/** Larger payloads are refused before parsing. */
export const MAX_COMMAND_BYTES = 4096;

const KNOWN_KEYS = new Set(['command', 'camera', 'id']);
const COMMANDS = ['pause', 'resume', 'republish'] as const;

function show(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
}

function requestId(v: unknown): RequestId | undefined {
  if (typeof v === 'string' && v.length <= 128) return v;
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  return undefined;
}

export function parseCommand(payload: Uint8Array, cameraIds: readonly string[]): ParsedCommand {
  if (payload.byteLength > MAX_COMMAND_BYTES) return { ok: false, error: `command payload is ${payload.byteLength} bytes; at most ${MAX_COMMAND_BYTES} are accepted` };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(payload);
  } catch {
    return { ok: false, error: 'command payload is not UTF-8 text' };
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { ok: false, error: `command payload is not JSON: ${show(text)}; expected e.g. {"command":"pause","camera":"${cameraIds[0] ?? 'cam'}"}` };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { ok: false, error: `command payload must be a JSON object, got ${show(v)}` };
  const obj = v as Record<string, unknown>;
  const id = requestId(obj.id);
  if (obj.id !== undefined && id === undefined) return { ok: false, error: `"id" must be a string of at most 128 characters or a number, got ${show(obj.id)}` };
  const unknown = Object.keys(obj).filter((k) => !KNOWN_KEYS.has(k));
  if (unknown.length > 0) return { ok: false, id, error: `unknown key ${show(unknown[0])} in command; allowed: ${[...KNOWN_KEYS].join(', ')}` };
  const name = obj.command;
  if (typeof name !== 'string' || !(COMMANDS as readonly string[]).includes(name)) {
    return { ok: false, id, error: `"command" must be one of ${COMMANDS.join(', ')}, got ${show(name)}` };
  }
  if (name === 'republish') {
    if (obj.camera !== undefined) return { ok: false, id, error: '"camera" is not used by republish' };
    return { ok: true, id, command: { kind: 'republish' } };
  }
  if (obj.camera === undefined) return { ok: true, id, command: { kind: name as 'pause' | 'resume', cameras: [...cameraIds] } };
  if (typeof obj.camera !== 'string' || !cameraIds.includes(obj.camera)) {
    return { ok: false, id, error: `"camera" must be one of ${cameraIds.map((c) => JSON.stringify(c)).join(', ')}, got ${show(obj.camera)}` };
  }
  return { ok: true, id, command: { kind: name as 'pause' | 'resume', cameras: [obj.camera] } };
}

/** The switch payload: ON pauses, OFF resumes (case and surrounding space ignored). */
export function parseSwitchPayload(payload: Uint8Array, cameraId: string, cameraIds: readonly string[]): ParsedCommand {
  if (!cameraIds.includes(cameraId)) return { ok: false, error: `no camera ${show(cameraId)} on this agent; cameras: ${cameraIds.join(', ')}` };
  if (payload.byteLength > 16) return { ok: false, error: `switch payload must be ON or OFF, got ${payload.byteLength} bytes` };
  const text = Buffer.from(payload).toString('utf8').trim().toUpperCase();
  if (text === 'ON') return { ok: true, command: { kind: 'pause', cameras: [cameraId] } };
  if (text === 'OFF') return { ok: true, command: { kind: 'resume', cameras: [cameraId] } };
  return { ok: false, error: `switch payload for camera ${cameraId} must be ON (pause) or OFF (resume), got ${show(Buffer.from(payload).toString('utf8'))}` };
}

export function commandReply(parsed: ParsedCommand): CommandReply {
  if (parsed.ok) return { ok: true, ...(parsed.id !== undefined ? { id: parsed.id } : {}), command: parsed.command.kind };
  return { ok: false, ...(parsed.id !== undefined ? { id: parsed.id } : {}), error: { reason: 'command_invalid', message: parsed.error } };
}
