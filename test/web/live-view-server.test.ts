/** The live view server against a hand-driven bus: routes, the SSE stream, frames on request, token and host checks. */
import test from 'ava';
import sharp from 'sharp';
import { FerError } from '../../agent/core/errors.js';
import { silentLogger } from '../../agent/core/log.js';
import { liveViewUrl, startLiveView, startLiveViewIfEnabled } from '../../agent/web/live-view.js';
import type { WireCameraStats, WireEvent, WireHello, WireModel, WireResult } from '../../agent/web/wire.js';
import { freePort, get, listening, SseStream } from './helpers.js';
import { HandHost, LABELS, ManualClock, oneFaceResult, splitFrame, webConfig } from './hand-host.js';

test('liveViewUrl: off when disabled, brackets IPv6, names the machine for wildcard binds, never carries the token', (t) => {
  t.is(liveViewUrl(webConfig({ 'web.enabled': false })), undefined);
  t.is(liveViewUrl(webConfig({ 'web.port': 8090 })), 'http://127.0.0.1:8090/');
  t.is(liveViewUrl(webConfig({ 'web.host': '::1', 'web.port': 8090 })), 'http://[::1]:8090/');
  const wild = liveViewUrl(webConfig({ 'web.host': '0.0.0.0', 'web.port': 8090, 'web.token': 'tok' })) ?? '';
  t.regex(wild, /^http:\/\/[^/:]+:8090\/$/);
  t.false(wild.includes('0.0.0.0'));
  t.false(wild.includes('tok'));
});

test('nothing listens when web.enabled is false', async (t) => {
  const port = await freePort();
  const host = new HandHost(webConfig({ 'web.enabled': false, 'web.port': port }));
  t.is(await startLiveViewIfEnabled(host, silentLogger), undefined);
  t.false(await listening('127.0.0.1', port));
  const err = await t.throwsAsync(startLiveView(host, silentLogger));
  t.true(err instanceof FerError && err.reason === 'config_invalid');
  t.false(await listening('127.0.0.1', port));
  t.is(host.bus.listenerCount('result'), 0);
});

test('page, SSE stream and on-demand frames; frames are taken from the bus only while a page watches', async (t) => {
  const clock = new ManualClock();
  const host = new HandHost(webConfig());
  const lv = await startLiveView(host, silentLogger, { clock, frameWaitMs: 300 });
  t.teardown(() => lv.stop());
  const base = `http://127.0.0.1:${lv.port}`;
  t.is(lv.url, `${base}/`);

  const page = await get(`${base}/`);
  t.is(page.status, 200);
  t.regex(page.body.toString(), /<canvas id="frame"/);
  t.regex(String(page.headers['content-security-policy']), /default-src 'self'/);
  t.is((await get(`${base}/app.js`)).status, 200);
  t.is((await get(`${base}/style.css`)).status, 200);
  t.is((await get(`${base}/nope`)).status, 404);

  // No page watching: the pipeline is not asked for frames, and a frame request finds none.
  t.is(host.bus.listenerCount('frame'), 0);
  t.is((await get(`${base}/frame.jpg?camera=demo`)).status, 503);
  t.is(host.bus.listenerCount('frame'), 0);

  host.bus.emit('event', { cameraId: 'demo', trackId: 7, eventType: 'happy', previous: 'none', confidence: 0.81234, heldMs: 1000.4, wallMs: 1, monoMs: 2 });
  const sse = await SseStream.open(`${base}/events`);
  t.teardown(() => sse.close());
  t.is(sse.status, 200);
  const hello = (await sse.waitFor((m) => m.event === 'hello')).data as WireHello;
  t.is(hello.agentId, host.cfg.agent_id);
  t.deepEqual(hello.cameras, [{ id: 'demo', name: 'Demo frames', snapshot: false }], 'snapshots are off unless enabled');
  t.deepEqual(hello.model, { name: 'hand-model', version: '1.2.3', sha256: 'ab'.repeat(32), labels: LABELS, engine: 'onnxruntime', precision: 'int8', flipTta: true });
  t.deepEqual(hello.events.map((e) => [e.trackId, e.eventType, e.confidence]), [[7, 'happy', 0.812]]);
  t.is(host.bus.listenerCount('frame'), 1);

  // A frame and its result, as the pipeline publishes them.
  host.states.set('demo', [{ trackId: 7, emotion: 'happy', confidence: 0.8, sinceMonoMs: clock.t - 1500 }]);
  host.bus.emit('frame', splitFrame('demo', 1, clock.t));
  host.bus.emit('result', oneFaceResult('demo', 1, clock.t));
  const r = (await sse.waitFor((m) => m.event === 'result')).data as WireResult;
  t.is(r.seq, 1);
  t.deepEqual(r.labels, LABELS);
  t.deepEqual(r.faces[0].box, { x: 40, y: 50, width: 80, height: 100 });
  t.deepEqual(r.faces[0].probs, [0.1, 0.8, 0.1]);
  t.is(r.faces[0].trackId, 7);
  t.deepEqual(r.states, [{ trackId: 7, emotion: 'happy', confidence: 0.8, heldMs: 1500 }]);

  const jpg = await get(`${base}/frame.jpg?camera=demo`);
  t.is(jpg.status, 200);
  t.is(jpg.headers['content-type'], 'image/jpeg');
  t.is(jpg.headers['x-frame-seq'], '1');
  t.is(jpg.headers['x-frame-width'], '320');
  const { data, info } = await sharp(jpg.body).raw().toBuffer({ resolveWithObject: true });
  t.deepEqual([info.width, info.height], [320, 240]);
  const px = (x: number, y: number): number[] => [...data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3)];
  const [lr, , lb] = px(20, 120);
  const [rr, , rb] = px(300, 120);
  t.true(lr > 150 && lb < 80, `left pixel ${px(20, 120).join(',')} should be red`);
  t.true(rb > 150 && rr < 80, `right pixel ${px(300, 120).join(',')} should be blue`);

  // At most a few encodings per second: a newer frame inside the interval gets the last encoding again.
  host.bus.emit('frame', splitFrame('demo', 2, clock.t + 10));
  clock.t += 10;
  t.is((await get(`${base}/frame.jpg?camera=demo`)).headers['x-frame-seq'], '1');
  clock.t += 300;
  t.is((await get(`${base}/frame.jpg?camera=demo`)).headers['x-frame-seq'], '2');
  t.is((await get(`${base}/frame.jpg?camera=other`)).status, 404);

  // fps and latency from the results' timing (after the window has forgotten the result above).
  clock.t += 6000;
  for (let seq = 3; seq < 13; seq++) host.bus.emit('result', oneFaceResult('demo', seq, clock.t + (seq - 3) * 200));
  clock.t += 9 * 200 + 50;
  const state = JSON.parse((await get(`${base}/state`)).body.toString()) as WireHello;
  const stats = state.stats.find((s) => s.cameraId === 'demo') as WireCameraStats;
  t.true(Math.abs(stats.fps - 5) < 0.2, `fps ${stats.fps}`);
  t.is(stats.latencyMs, 42);
  const live = (await sse.waitFor((m) => m.event === 'stats', 3000)).data as WireCameraStats[];
  t.is(live[0].cameraId, 'demo');

  host.bus.emit('event', { cameraId: 'demo', trackId: 7, eventType: 'face_lost', previous: 'happy', confidence: 0.9, heldMs: 0, wallMs: 3, monoMs: 4 });
  t.is(((await sse.waitFor((m) => m.event === 'event')).data as WireEvent).eventType, 'face_lost');
  host.bus.emit('model', { ...host.model, version: '2.0.0' });
  t.is(((await sse.waitFor((m) => m.event === 'model')).data as WireModel).version, '2.0.0');

  // The page goes away: frames are no longer taken from the pipeline.
  sse.close();
  for (let i = 0; i < 50 && host.bus.listenerCount('frame') > 0; i++) await new Promise((res) => setTimeout(res, 20));
  t.is(host.bus.listenerCount('frame'), 0);

  await lv.stop();
  t.false(await listening('127.0.0.1', lv.port));
  t.is(host.bus.listenerCount('result') + host.bus.listenerCount('event') + host.bus.listenerCount('model'), 0);
});

test('web.token guards every endpoint; /config masks secrets', async (t) => {
  const host = new HandHost(webConfig({ 'web.token': 's3cret-token', 'mqtt.password': 'mqtt-pw', 'homeassistant.token': 'ha-tok' }));
  const lv = await startLiveView(host, silentLogger, { frameWaitMs: 100 });
  t.teardown(() => lv.stop());
  const base = `http://127.0.0.1:${lv.port}`;
  for (const p of ['/', '/app.js', '/style.css', '/events', '/frame.jpg?camera=demo', '/config', '/state', '/config?token=wrong']) {
    t.is((await get(base + p)).status, 401, p);
  }
  const form = await get(`${base}/`);
  t.regex(form.body.toString(), /<input name="token"/);

  const cfg = await get(`${base}/config?token=s3cret-token`);
  t.is(cfg.status, 200);
  const text = cfg.body.toString();
  for (const secret of ['s3cret-token', 'mqtt-pw', 'ha-tok']) t.false(text.includes(secret), secret);
  const parsed = JSON.parse(text) as { web: { token: string }; mqtt: { password: string } };
  t.is(parsed.web.token, '***');
  t.is(parsed.mqtt.password, '***');
  const cookie = String(cfg.headers['set-cookie']?.[0] ?? '').split(';')[0];
  t.regex(cookie, /^fer_live_\d+=/);
  t.is((await get(`${base}/state`, { cookie })).status, 200);
  t.is((await get(`${base}/`, { cookie })).status, 200);

  const sse = await SseStream.open(`${base}/events?token=s3cret-token`);
  t.teardown(() => sse.close());
  t.is(sse.status, 200);
  await sse.waitFor((m) => m.event === 'hello');
});

test('without a token, requests addressed to a foreign host name are refused', async (t) => {
  const host = new HandHost(webConfig());
  const lv = await startLiveView(host, silentLogger);
  t.teardown(() => lv.stop());
  const base = `http://127.0.0.1:${lv.port}`;
  t.is((await get(`${base}/state`, { host: 'evil.example' })).status, 403);
  t.is((await get(`${base}/state`, { host: `localhost:${lv.port}` })).status, 200);
});

test('a camera with snapshots on is flagged to the page, which says so', async (t) => {
  const host = new HandHost(webConfig({ cameras: [{ id: 'demo', name: 'Demo frames', source: { type: 'dir' }, fps: 5, snapshot: { enabled: true } }] }));
  const lv = await startLiveView(host, silentLogger);
  t.teardown(() => lv.stop());
  const state = JSON.parse((await get(`http://127.0.0.1:${lv.port}/state`)).body.toString()) as WireHello;
  t.deepEqual(state.cameras, [{ id: 'demo', name: 'Demo frames', snapshot: true }]);
  t.regex((await get(`http://127.0.0.1:${lv.port}/`)).body.toString(), /id="snapshot-note"/);
  t.regex((await get(`http://127.0.0.1:${lv.port}/app.js`)).body.toString(), /Snapshots ON for/);
});
