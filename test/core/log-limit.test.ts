/**
 * Issue 31: a folder of bad images logged ~22 lines/s and 10,000 malformed commands 6,114 lines. Repeated warnings
 * are now rate-limited per message; the line after a suppressed run says how many were left out.
 */
import { Writable } from 'node:stream';
import test from 'ava';
import pino from 'pino';
import { LogLimiter } from '../../agent/core/log-limit.js';
import { loggerOptions } from '../../agent/core/log.js';

test('limiter: a burst per key per window, then counted; the next admitted line carries the count', (t) => {
  const l = new LogLimiter({ burst: 3, windowMs: 1000 });
  const emitted = Array.from({ length: 10 }, () => l.admit('a', 0).emit);
  t.deepEqual(emitted, [true, true, true, false, false, false, false, false, false, false]);
  t.true(l.admit('b', 0).emit, 'keys are independent');
  t.deepEqual(l.admit('a', 1000), { emit: true, suppressed: 7 });
  t.deepEqual(l.admit('a', 1001), { emit: true, suppressed: 0 });
});

test('the agent logger: 10,000 identical warnings give a handful of lines; errors and info keep their own counts', (t) => {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>), cb()) });
  let now = 0;
  const log = pino({ level: 'info', ...loggerOptions(new LogLimiter({ burst: 5, windowMs: 60_000 }), () => now) }, sink).child({ module: 'mqtt' });
  for (let i = 0; i < 10_000; i++) log.warn({ via: 'command', error: `bad ${i}` }, 'MQTT command refused');
  for (let i = 0; i < 20; i++) log.info({ i }, 'frame');
  t.is(lines.filter((l) => l.msg === 'MQTT command refused').length, 5);
  t.is(lines.filter((l) => l.msg === 'frame').length, 20, 'info is never limited');
  now = 60_000;
  log.warn({ via: 'command', error: 'again' }, 'MQTT command refused');
  t.like(lines[lines.length - 1], { msg: 'MQTT command refused', suppressed: 9995, error: 'again', module: 'mqtt' });
  log.warn('plain message');
  t.like(lines[lines.length - 1], { msg: 'plain message' });
});
