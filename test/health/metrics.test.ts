import test from 'ava';
import fc from 'fast-check';
import { Bus } from '../../agent/core/bus.js';
import { AgentMetrics } from '../../agent/health/agent-metrics.js';
import { Registry, escapeLabelValue, formatValue } from '../../agent/health/metrics.js';
import { ManualClock, result } from './helpers.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A strict parser for the text format 0.0.4, written from the spec: anything it cannot parse fails the test. */
function parse(text: string): { samples: Sample[]; types: Record<string, string>; help: Record<string, string> } {
  const samples: Sample[] = [];
  const types: Record<string, string> = {};
  const help: Record<string, string> = {};
  if (!text.endsWith('\n')) throw new Error('exposition must end with a line feed');
  for (const line of text.slice(0, -1).split('\n')) {
    let m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (m) {
      help[m[1]] = m[2].replace(/\\(n|\\)/g, (_, c: string) => (c === 'n' ? '\n' : '\\'));
      continue;
    }
    m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (m) {
      if (types[m[1]]) throw new Error(`TYPE twice for ${m[1]}`);
      types[m[1]] = m[2];
      continue;
    }
    // dotAll: a label value may hold U+2028/U+2029, which "." would not match.
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$/s.exec(line);
    if (!m) throw new Error(`unparseable line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    if (m[2]) {
      let rest = m[2].slice(1, -1);
      while (rest.length > 0) {
        const lm = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\["\\n])*)"(,|$)/.exec(rest);
        if (!lm) throw new Error(`bad labels in ${JSON.stringify(line)}`);
        labels[lm[1]] = lm[2].replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
        rest = rest.slice(lm[0].length);
      }
    }
    const v = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : m[3] === 'NaN' ? NaN : Number(m[3]);
    if (Number.isNaN(v) && m[3] !== 'NaN') throw new Error(`bad value in ${JSON.stringify(line)}`);
    samples.push({ name: m[1], labels, value: v });
  }
  return { samples, types, help };
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  return samples.find((s) => s.name === name && Object.keys(labels).length === Object.keys(s.labels).length && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;
}

test('counters and gauges render HELP, TYPE and one sample per label set, in the text format', (t) => {
  const r = new Registry();
  const c = r.counter({ name: 'fer_things_total', help: 'Things.\nCounted with a \\ backslash.', labelNames: ['camera'] });
  const g = r.gauge({ name: 'fer_level', help: 'A level.' });
  c.inc({ camera: 'kitchen' });
  c.inc({ camera: 'kitchen' }, 2);
  c.inc({ camera: 'hall' });
  g.set(undefined, 0.25);
  const text = r.render();
  t.is(
    text,
    [
      '# HELP fer_things_total Things.\\nCounted with a \\\\ backslash.',
      '# TYPE fer_things_total counter',
      'fer_things_total{camera="kitchen"} 3',
      'fer_things_total{camera="hall"} 1',
      '# HELP fer_level A level.',
      '# TYPE fer_level gauge',
      'fer_level 0.25',
      '',
    ].join('\n'),
  );
  const p = parse(text);
  t.is(p.help.fer_things_total, 'Things.\nCounted with a \\ backslash.');
  t.deepEqual(p.types, { fer_things_total: 'counter', fer_level: 'gauge' });
});

test('label values with quotes, backslashes and newlines survive a round trip through a parser', (t) => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.string({ maxLength: 20 }), (a, b) => {
      const r = new Registry();
      const g = r.gauge({ name: 'x', help: 'x', labelNames: ['a', 'b'] });
      g.set({ a, b }, 1);
      const p = parse(r.render());
      return p.samples.length === 1 && p.samples[0].labels.a === a && p.samples[0].labels.b === b;
    }),
  );
  t.is(escapeLabelValue('say "hi"\\\n'), 'say \\"hi\\"\\\\\\n');
  // Found by the property above: a line separator in a value is legal in the format and must survive.
  const r = new Registry();
  r.gauge({ name: 'x', help: 'x', labelNames: ['a'] }).set({ a: 'one\u2028two' }, 1);
  t.is(parse(r.render()).samples[0]?.labels.a, 'one\u2028two');
});

test('histogram buckets are cumulative and upper-inclusive, with +Inf, _sum and _count', (t) => {
  const r = new Registry();
  const h = r.histogram({ name: 'lat_seconds', help: 'Latency.', labelNames: ['stage'], buckets: [0.01, 0.1, 1] });
  for (const v of [0.005, 0.01, 0.05, 0.1, 0.5, 3]) h.observe({ stage: 'detect' }, v);
  const p = parse(r.render());
  t.is(p.types.lat_seconds, 'histogram');
  const buckets = p.samples.filter((s) => s.name === 'lat_seconds_bucket').map((s) => [s.labels.le, s.value]);
  t.deepEqual(buckets, [
    ['0.01', 2],
    ['0.1', 4],
    ['1', 5],
    ['+Inf', 6],
  ]);
  t.is(value(p.samples, 'lat_seconds_count', { stage: 'detect' }), 6);
  t.true(Math.abs(value(p.samples, 'lat_seconds_sum', { stage: 'detect' })! - 3.665) < 1e-9);
  t.deepEqual(h.cumulative({ stage: 'detect' }).map((b) => b.count), [2, 4, 5, 6]);
});

test('histogram counts agree with a direct count for any observations', (t) => {
  fc.assert(
    fc.property(fc.array(fc.double({ min: 0, max: 20, noNaN: true }), { maxLength: 50 }), (vals) => {
      const r = new Registry();
      const bounds = [0.5, 1, 5, 10];
      const h = r.histogram({ name: 'h', help: 'h', buckets: bounds });
      for (const v of vals) h.observe(undefined, v);
      const p = parse(r.render());
      return [...bounds, Infinity].every((le) => value(p.samples, 'h_bucket', { le: formatValue(le) }) === vals.filter((v) => v <= le).length);
    }),
  );
  t.pass();
});

test('misuse is refused with a message naming the metric', (t) => {
  const r = new Registry();
  const c = r.counter({ name: 'c_total', help: 'c', labelNames: ['camera'] });
  t.throws(() => c.inc({ camera: 'a' }, -1), { message: /c_total can only increase/ });
  t.throws(() => c.inc({ cam: 'a' } as unknown as { camera: string }), { message: /c_total expects labels \{camera\}/ });
  t.throws(() => r.counter({ name: 'c_total', help: 'again' }), { message: /registered twice/ });
  t.throws(() => r.gauge({ name: 'bad-name', help: 'x' }), { message: /bad-name/ });
  t.throws(() => r.histogram({ name: 'h', help: 'x', labelNames: ['le'] }), { message: /label name "le"/ });
  t.throws(() => r.histogram({ name: 'h2', help: 'x', buckets: [1, 1] }), { message: /strictly increasing/ });
});

test('agent metrics follow the bus: frames, faces, stage latency, events, drops, source state, model, MQTT', (t) => {
  const bus = new Bus();
  const clock = new ManualClock();
  const m = new AgentMetrics(bus, { clock, cameraIds: ['kitchen', 'hall'], mqttConfigured: true });
  let p = parse(m.render());
  t.is(value(p.samples, 'fer_frames_total', { camera: 'hall' }), 0, 'configured cameras exist before their first frame');
  t.is(value(p.samples, 'fer_mqtt_connected'), 0);

  bus.emit('result', result('kitchen', 1, 2, { decodeMs: 3, detectMs: 40, classifyMs: 8, waitMs: 9, processMs: 51, totalMs: 60 }));
  bus.emit('result', result('kitchen', 2, 1, { decodeMs: 3, detectMs: 400, classifyMs: 8, waitMs: 9, processMs: 411, totalMs: 420 }));
  bus.emit('event', { cameraId: 'kitchen', trackId: 1, eventType: 'happy', previous: 'none', confidence: 0.9, heldMs: 1000, wallMs: 0, monoMs: 0 });
  bus.emit('event', { cameraId: 'kitchen', trackId: 1, eventType: 'face_lost', previous: 'happy', confidence: 0, heldMs: 2000, wallMs: 0, monoMs: 0 });
  bus.emit('event', { cameraId: 'kitchen', trackId: 2, eventType: 'happy', previous: 'none', confidence: 0.8, heldMs: 1000, wallMs: 0, monoMs: 0 });
  bus.emit('source', { cameraId: 'hall', state: 'running', framesDropped: 5, framesCorrupt: 1 });
  bus.emit('source', { cameraId: 'hall', state: 'failed', reason: 'ffmpeg exited', framesDropped: 7, framesCorrupt: 1 });
  // The source restarted and counts from zero again: the counter must still only go up.
  bus.emit('source', { cameraId: 'hall', state: 'running', framesDropped: 2, framesCorrupt: 0 });
  bus.emit('model', { name: 'fer-vgg-s', version: '1.0.0', sha256: 'ab', labels: ['happy'], engine: 'onnxruntime', precision: 'int8', flipTta: false, dir: '/x' });
  bus.emit('model', { name: 'fer-vgg-s', version: '1.1.0', sha256: 'cd', labels: ['happy'], engine: 'tfjs-wasm', precision: 'fp32', flipTta: true, dir: '/y' });
  bus.emit('paused', { cameraId: 'hall', paused: true });
  m.setMqttQueueDepth(4);
  m.setBrokerConnected(true);
  clock.advance(2500);

  p = parse(m.render());
  t.is(value(p.samples, 'fer_frames_total', { camera: 'kitchen' }), 2);
  t.is(value(p.samples, 'fer_faces_total', { camera: 'kitchen' }), 3);
  t.is(value(p.samples, 'fer_faces_current', { camera: 'kitchen' }), 1);
  t.is(value(p.samples, 'fer_events_total', { camera: 'kitchen', type: 'happy' }), 2);
  t.is(value(p.samples, 'fer_events_total', { camera: 'kitchen', type: 'face_lost' }), 1);
  t.is(value(p.samples, 'fer_stage_latency_seconds_bucket', { camera: 'kitchen', stage: 'detect', le: '0.05' }), 1);
  t.is(value(p.samples, 'fer_stage_latency_seconds_bucket', { camera: 'kitchen', stage: 'detect', le: '0.5' }), 2);
  t.is(value(p.samples, 'fer_stage_latency_seconds_count', { camera: 'kitchen', stage: 'total' }), 2);
  t.true(Math.abs(value(p.samples, 'fer_stage_latency_seconds_sum', { camera: 'kitchen', stage: 'total' })! - 0.48) < 1e-9);
  t.is(value(p.samples, 'fer_frames_dropped_total', { camera: 'hall' }), 9, '5, then +2, then a reset to 2');
  t.is(value(p.samples, 'fer_frames_corrupt_total', { camera: 'hall' }), 1);
  t.is(value(p.samples, 'fer_source_state', { camera: 'hall', state: 'running' }), 1);
  t.is(value(p.samples, 'fer_source_state', { camera: 'hall', state: 'failed' }), 0);
  t.deepEqual(
    p.samples.filter((s) => s.name === 'fer_model_info').map((s) => [s.labels, s.value]),
    [[{ name: 'fer-vgg-s', version: '1.1.0', engine: 'tfjs-wasm', precision: 'fp32', flip_tta: 'true' }, 1]],
    'only the active model has an info series',
  );
  t.is(value(p.samples, 'fer_camera_paused', { camera: 'hall' }), 1);
  t.is(value(p.samples, 'fer_mqtt_queue_depth'), 4);
  t.is(value(p.samples, 'fer_mqtt_connected'), 1);
  t.is(value(p.samples, 'fer_last_frame_age_seconds', { camera: 'kitchen' }), 2.5);
  t.is(value(p.samples, 'fer_last_frame_age_seconds', { camera: 'hall' }), 2.5, 'measured from start before the first frame');
  t.true(value(p.samples, 'process_resident_memory_bytes')! > 0);

  m.dispose();
  bus.emit('result', result('kitchen', 3));
  t.is(value(parse(m.render()).samples, 'fer_frames_total', { camera: 'kitchen' }), 2, 'no longer listening after dispose');
});

test('without MQTT configured there is no broker-connected series', (t) => {
  const m = new AgentMetrics(new Bus(), { clock: new ManualClock(), mqttConfigured: false });
  t.false(m.render().includes('fer_mqtt_connected'));
});
