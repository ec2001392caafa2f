import net from 'node:net';
import test from 'ava';
import { Bus } from '../../agent/core/bus.js';
import { FerError } from '../../agent/core/errors.js';
import { silentLogger } from '../../agent/core/log.js';
import { AgentMetrics, type CameraHealthState } from '../../agent/health/agent-metrics.js';
import { evaluateHealth, frameAgeBoundMs, MIN_FRAME_AGE_BOUND_MS, startHealthServer, type HealthReport } from '../../agent/health/http.js';
import { PROMETHEUS_CONTENT_TYPE } from '../../agent/health/metrics.js';
import { ManualClock, result } from './helpers.js';

const cam = (id: string, lastFrameMono: number | null, extra: Partial<CameraHealthState> = {}): CameraHealthState => ({ cameraId: id, lastFrameMono, paused: false, state: 'running', ...extra });
const noMqtt = { configured: false, connected: false };

test('frame-age bound: ten frame times, never below 15 s', (t) => {
  t.is(frameAgeBoundMs(5), MIN_FRAME_AGE_BOUND_MS);
  t.is(frameAgeBoundMs(0.5), 20_000);
  t.is(frameAgeBoundMs(0.1), 100_000);
});

test('healthy: every camera has a recent frame and no broker is configured', (t) => {
  const r = evaluateHealth({ nowMono: 50_000, startedMono: 0, cameras: [cam('a', 49_000), cam('b', 45_000)], boundsMs: { a: 15_000, b: 15_000 }, mqtt: noMqtt });
  t.is(r.status, 'ok');
  t.deepEqual(r.reasons, []);
  t.is(r.cameras.a.last_frame_age_s, 1);
  t.is(r.cameras.b.last_frame_age_s, 5);
  t.is(r.mqtt.connected, null);
});

test('a stale camera, a camera that never delivered after the grace period, and a lost broker are each a reason', (t) => {
  const r = evaluateHealth({
    nowMono: 100_000,
    startedMono: 0,
    cameras: [cam('fresh', 99_000), cam('stale', 60_000, { state: 'failed', reason: 'rtsp timeout' }), cam('never', null, { state: 'connecting' })],
    boundsMs: { fresh: 15_000, stale: 15_000, never: 15_000 },
    mqtt: { configured: true, connected: false },
  });
  t.is(r.status, 'unhealthy');
  t.deepEqual(r.reasons, [
    'camera stale last frame is 40 s old, more than 15 s (state failed: rtsp timeout)',
    'camera never has delivered no frame in 100 s since start (state connecting)',
    'MQTT broker is not connected',
  ]);
  t.deepEqual([r.cameras.fresh.ok, r.cameras.stale.ok, r.cameras.never.ok], [true, false, false]);
});

test('paused and stopped cameras, and cameras still in their start-up grace period, do not make the agent unhealthy', (t) => {
  const r = evaluateHealth({
    nowMono: 10_000,
    startedMono: 0,
    cameras: [cam('starting', null, { state: 'connecting' })],
    boundsMs: { starting: 15_000 },
    mqtt: { configured: true, connected: true },
  });
  t.is(r.status, 'ok');
  const r2 = evaluateHealth({
    nowMono: 500_000,
    startedMono: 0,
    cameras: [cam('paused', 1_000, { paused: true }), cam('done', 2_000, { state: 'stopped' })],
    boundsMs: {},
    mqtt: noMqtt,
  });
  t.is(r2.status, 'ok');
});

async function get(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

test('the endpoint serves /healthz (200 then 503 as frames stop) and /metrics from the live bus', async (t) => {
  const bus = new Bus();
  const clock = new ManualClock(0);
  const metrics = new AgentMetrics(bus, { clock, cameraIds: ['kitchen'], mqttConfigured: true });
  const server = await startHealthServer({ host: '127.0.0.1', port: 0, metrics, boundsMs: { kitchen: 15_000 }, logger: silentLogger });
  t.teardown(() => server.stop());

  bus.emit('result', result('kitchen', 1, 1));
  metrics.setBrokerConnected(true);
  clock.advance(2_000);
  let res = await get(server.port, '/healthz');
  t.is(res.status, 200);
  t.regex(res.type ?? '', /^application\/json/);
  const ok = JSON.parse(res.body) as HealthReport;
  t.is(ok.status, 'ok');
  t.deepEqual(ok.cameras.kitchen, { state: 'unknown', paused: false, last_frame_age_s: 2, max_frame_age_s: 15, ok: true });
  t.deepEqual(ok.mqtt, { configured: true, connected: true });

  res = await get(server.port, '/metrics');
  t.is(res.status, 200);
  t.is(res.type, PROMETHEUS_CONTENT_TYPE);
  t.regex(res.body, /^fer_frames_total\{camera="kitchen"\} 1$/m);
  t.regex(res.body, /^fer_last_frame_age_seconds\{camera="kitchen"\} 2$/m);

  clock.advance(20_000);
  metrics.setBrokerConnected(false);
  res = await get(server.port, '/healthz');
  t.is(res.status, 503);
  const bad = JSON.parse(res.body) as HealthReport;
  t.deepEqual(bad.reasons, ['camera kitchen last frame is 22 s old, more than 15 s (state unknown)', 'MQTT broker is not connected']);

  bus.emit('result', result('kitchen', 2));
  metrics.setBrokerConnected(true);
  t.is((await get(server.port, '/healthz')).status, 200, 'recovers with the next frame and the broker back');

  res = await get(server.port, '/healthz', 'HEAD');
  t.is(res.status, 200);
  t.is(res.body, '');
  t.is((await get(server.port, '/nope')).status, 404);
  t.is((await get(server.port, '/metrics', 'POST')).status, 405);
});

test('a port already in use is a FerError naming health.host/health.port', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.teardown(() => blocker.close());
  const port = (blocker.address() as net.AddressInfo).port;
  const metrics = new AgentMetrics(null, { clock: new ManualClock() });
  const err = await t.throwsAsync(startHealthServer({ host: '127.0.0.1', port, metrics, boundsMs: {} }));
  t.true(err instanceof FerError);
  t.is((err as FerError).reason, 'io_failed');
  t.regex(err!.message, new RegExp(`127\\.0\\.0\\.1:${port} \\(health\\.host/health\\.port\\)`));
});
