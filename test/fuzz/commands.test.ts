/**
 * MQTT command payloads (the command topic and the Home Assistant pause switch) full of random bytes and
 * command-shaped JSON: parsing never throws, accepts only commands it knows for cameras the agent has, and every
 * refusal says why in a reply with reason command_invalid.
 */
import test from 'ava';
import fc from 'fast-check';
import { commandReply, MAX_COMMAND_BYTES, parseCommand, parseSwitchPayload, type ParsedCommand } from '../../agent/mqtt/commands.js';
import { attempt, check, describe, runs } from './support.js';

const CAMERAS = ['front', 'garden_2'];
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Whatever came in, the parse result is sound. */
function sound(r: ParsedCommand, cameras: readonly string[]): string | undefined {
  const reply = commandReply(r);
  if (r.ok) {
    if (!reply.ok || reply.error) return 'ok command gave an error reply';
    const c = r.command;
    if (c.kind === 'republish') return undefined;
    if (c.kind !== 'pause' && c.kind !== 'resume') return `unknown kind ${String((c as { kind: unknown }).kind)}`;
    if (c.cameras.length === 0 || c.cameras.some((x) => !cameras.includes(x))) return `cameras ${JSON.stringify(c.cameras)} not all known`;
    return undefined;
  }
  if (typeof r.error !== 'string' || r.error.trim().length < 10) return `unhelpful error ${JSON.stringify(r.error)}`;
  if (reply.ok || reply.error?.reason !== 'command_invalid' || reply.error.message !== r.error) return 'error reply does not carry the reason';
  if (JSON.stringify(reply).length > 2 * MAX_COMMAND_BYTES) return 'reply larger than any accepted command';
  return undefined;
}

const commandLike = fc.record(
  {
    command: fc.oneof(fc.constantFrom('pause', 'resume', 'republish', 'PAUSE', 'reboot', ''), fc.jsonValue({ maxDepth: 1 })),
    camera: fc.oneof(fc.constantFrom(...CAMERAS, 'nope', '', '../x'), fc.jsonValue({ maxDepth: 1 })),
    id: fc.oneof(fc.string({ maxLength: 140 }), fc.integer(), fc.double(), fc.jsonValue({ maxDepth: 1 })),
    extra: fc.jsonValue({ maxDepth: 1 }),
  },
  { requiredKeys: [] },
);

function parse(bytes: Uint8Array, cameras: readonly string[]): void {
  const r = attempt(() => parseCommand(bytes, cameras));
  if (!r.ok) throw new Error(`parseCommand threw: ${describe(r.err)}`);
  const problem = sound(r.value, cameras);
  if (problem) throw new Error(problem);
}

test('command topic: random bytes never throw and are refused with a reason', (t) => {
  check(t, fc.property(fc.uint8Array({ maxLength: 512 }), (b) => parse(b, CAMERAS)), runs(500));
});

test('command topic: command-shaped JSON is parsed soundly', (t) => {
  check(t, fc.property(commandLike, fc.subarray(CAMERAS, { minLength: 1 }), (o, cams) => parse(enc(JSON.stringify(o)), cams)), runs(1000));
});

test('command topic: any JSON and oversized payloads are handled', (t) => {
  check(t, fc.property(fc.jsonValue(), (v) => parse(enc(JSON.stringify(v) ?? 'null'), CAMERAS)), runs(300));
  const big = enc(JSON.stringify({ command: 'pause', id: 'x'.repeat(MAX_COMMAND_BYTES) }));
  const r = parseCommand(big, CAMERAS);
  t.false(r.ok);
  t.is(sound(r, CAMERAS), undefined);
});

test('pause switch: random payloads and camera ids never throw; only ON/OFF for a known camera pass', (t) => {
  check(
    t,
    fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.constantFrom('ON', 'off', ' On\n', 'ONN', '').map(enc)), fc.oneof(fc.constantFrom(...CAMERAS), fc.string({ maxLength: 20 })), (b, cam) => {
      const r = attempt(() => parseSwitchPayload(b, cam, CAMERAS));
      if (!r.ok) throw new Error(`parseSwitchPayload threw: ${describe(r.err)}`);
      const problem = sound(r.value, CAMERAS);
      if (problem) throw new Error(problem);
      const text = Buffer.from(b).toString('utf8').trim().toUpperCase();
      if (r.value.ok !== (CAMERAS.includes(cam) && (text === 'ON' || text === 'OFF'))) throw new Error(`accepted=${r.value.ok} for ${JSON.stringify(text)} on ${cam}`);
    }),
    runs(500),
  );
});
