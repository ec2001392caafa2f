import test from 'ava';
import fc from 'fast-check';
import { MAX_COMMAND_BYTES, commandReply, parseCommand, parseSwitchPayload } from '../../agent/mqtt/commands.js';

const cams = ['living_room', 'hall-2'];
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

test('pause, resume and republish parse; an omitted camera means all cameras', (t) => {
  t.deepEqual(parseCommand(enc('{"command":"pause","camera":"hall-2","id":"r1"}'), cams), { ok: true, id: 'r1', command: { kind: 'pause', cameras: ['hall-2'] } });
  t.deepEqual(parseCommand(enc('{"command":"resume"}'), cams), { ok: true, id: undefined, command: { kind: 'resume', cameras: cams } });
  t.deepEqual(parseCommand(enc('{"command":"republish","id":7}'), cams), { ok: true, id: 7, command: { kind: 'republish' } });
});

test('bad commands give messages that name what is wrong', (t) => {
  const err = (s: string | Uint8Array): string => {
    const r = parseCommand(typeof s === 'string' ? enc(s) : s, cams);
    if (r.ok) throw new Error(`expected an error for ${String(s)}`);
    return r.error;
  };
  t.regex(err('pause'), /not JSON/);
  t.regex(err('[1,2]'), /JSON object/);
  t.regex(err('{"command":"explode"}'), /"command" must be one of pause, resume, republish/);
  t.regex(err('{"command":"pause","camera":"garage"}'), /"camera" must be one of "living_room", "hall-2", got "garage"/);
  t.regex(err('{"command":"pause","extra":1}'), /unknown key "extra"/);
  t.regex(err('{"command":"pause","id":{}}'), /"id" must be/);
  t.regex(err(new Uint8Array([0xff, 0xfe, 0x7b])), /not UTF-8/);
  t.regex(err(enc(`{"command":"pause","id":"${'x'.repeat(MAX_COMMAND_BYTES)}"}`)), /at most 4096/);
});

test('the switch takes ON (pause) and OFF (resume), nothing else', (t) => {
  t.deepEqual(parseSwitchPayload(enc(' on\n'), 'living_room', cams), { ok: true, command: { kind: 'pause', cameras: ['living_room'] } });
  t.deepEqual(parseSwitchPayload(enc('OFF'), 'living_room', cams), { ok: true, command: { kind: 'resume', cameras: ['living_room'] } });
  const bad = parseSwitchPayload(enc('toggle'), 'living_room', cams);
  t.false(bad.ok);
  t.false(parseSwitchPayload(enc('ON'), 'garage', cams).ok);
});

test('replies carry the request id and the reason code', (t) => {
  t.deepEqual(commandReply(parseCommand(enc('{"command":"republish","id":"x"}'), cams)), { ok: true, id: 'x', command: 'republish' });
  const r = commandReply(parseCommand(enc('{"command":1,"id":"y"}'), cams));
  t.is(r.ok, false);
  t.is(r.id, 'y');
  t.is(r.error?.reason, 'command_invalid');
});

test('fuzz: any bytes, any JSON, never throw; every answer is a command or a non-empty error', (t) => {
  const payloads = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.json().map(enc),
    fc.record({ command: fc.oneof(fc.constantFrom('pause', 'resume', 'republish'), fc.string()), camera: fc.oneof(fc.constantFrom(...cams), fc.anything()), id: fc.anything() }, { requiredKeys: [] }).map((o) => {
      try {
        return enc(JSON.stringify(o) ?? 'null');
      } catch {
        return enc('{}');
      }
    }),
  );
  fc.assert(
    fc.property(payloads, (p) => {
      const r = parseCommand(p, cams);
      const s = parseSwitchPayload(p, 'living_room', cams);
      const wellFormed = (x: typeof r): boolean =>
        x.ok ? (x.command.kind === 'republish' || x.command.cameras.every((c) => cams.includes(c))) : typeof x.error === 'string' && x.error.length > 0;
      JSON.stringify(commandReply(r));
      return wellFormed(r) && wellFormed(s);
    }),
    { numRuns: 2000 },
  );
  t.pass();
});
