import test from 'ava';
import { FerError } from '../../agent/core/errors.js';
import { silentLogger } from '../../agent/core/log.js';
import { CameraFeed } from '../../agent/sources/camera-feed.js';
import { decodeFrame } from '../../agent/sources/decode.js';
import { urlAndHeaders } from '../../agent/sources/http-source.js';
import { createSource, redactUrl, type SourceFrame } from '../../agent/sources/source.js';
import { TestServer, colourIndex, colourJpeg, delay, mjpegHandler, take, waitFor } from './helpers.js';

const frames = Promise.all(Array.from({ length: 25 }, (_, i) => colourJpeg(i)));

async function colour(sf: SourceFrame): Promise<number> {
  if (sf.kind !== 'encoded') throw new Error('expected encoded');
  return colourIndex((await decodeFrame('c', sf.frame)).data);
}

test('credentials in the URL become a Basic header and leave the URL', (t) => {
  const { url, headers } = urlAndHeaders('http://ad%40min:s3cr%3At@cam.local:8080/snap.jpg?x=1');
  t.is(url, 'http://cam.local:8080/snap.jpg?x=1');
  t.is(headers.authorization, 'Basic ' + Buffer.from('ad@min:s3cr:t').toString('base64'));
  t.deepEqual(urlAndHeaders('http://cam.local/a').headers, {});
});

test('credentials are hidden in every URL of a text', (t) => {
  t.is(redactUrl('rtsp://u:p@cam/x failed, http://a:b@c:80/y and http://plain/z'), 'rtsp://***@cam/x failed, http://***@c:80/y and http://plain/z');
});

test('http-snapshot polls the URL every interval_ms and yields each JPEG', async (t) => {
  const imgs = await frames;
  let n = 0;
  let auth: string | undefined;
  const times: number[] = [];
  const server = new TestServer((req, res) => {
    times.push(performance.now());
    auth = req.headers.authorization;
    const body = imgs[n++];
    res.writeHead(200, { 'content-type': 'image/jpeg', 'content-length': body.length });
    res.end(body);
  });
  const port = await server.listen();
  t.teardown(() => server.close());
  const src = createSource('c', { type: 'http-snapshot', url: `http://viewer:pw@127.0.0.1:${port}/snap.jpg`, interval_ms: 40 }, silentLogger);
  t.is(src.description, `http http://***@127.0.0.1:${port}/snap.jpg`);
  const got = await take(src, 4);
  t.deepEqual(await Promise.all(got.map(colour)), [0, 1, 2, 3]);
  t.is(auth, 'Basic ' + Buffer.from('viewer:pw').toString('base64'));
  // Polled, not hammered: 3 intervals of 40 ms between the first and the fourth request. The server sees the first
  // request late by its connection set-up (tens of ms on a loaded machine; later ones reuse the connection), so the
  // bound allows one interval of skew; a source that did not wait would span a few ms.
  const span = times[3] - times[0];
  t.true(span >= 80, `span ${span} ms`);
});

test('an HTTP error status fails the source naming URL and status', async (t) => {
  const server = new TestServer((_req, res) => {
    res.writeHead(503, 'Camera Busy');
    res.end();
  });
  const port = await server.listen();
  t.teardown(() => server.close());
  const err = await t.throwsAsync(take(createSource('c', { type: 'http-snapshot', url: `http://127.0.0.1:${port}/s.jpg` }, silentLogger), 1), { instanceOf: FerError });
  t.is(err!.message, `GET http://127.0.0.1:${port}/s.jpg answered 503 Camera Busy`);
});

test('a refused connection and a silent server fail with the reason', async (t) => {
  const silent = new TestServer(() => undefined); // accepts, never answers
  const port = await silent.listen();
  await silent.close();
  const refused = await t.throwsAsync(take(createSource('c', { type: 'http-snapshot', url: `http://127.0.0.1:${port}/` }, silentLogger), 1));
  t.regex(refused!.message, /ECONNREFUSED/);
  const hang = new TestServer(() => undefined);
  const port2 = await hang.listen();
  t.teardown(() => hang.close());
  const stalled = await t.throwsAsync(take(createSource('c', { type: 'http-snapshot', url: `http://127.0.0.1:${port2}/`, timeout_ms: 200 }, silentLogger), 1));
  t.is(stalled!.message, `GET http://127.0.0.1:${port2}/: no data for 200 ms`);
});

test('http-snapshot detects a multipart MJPEG answer and streams it frame by frame', async (t) => {
  const imgs = await frames;
  for (const withLength of [true, false]) {
    const server = new TestServer(mjpegHandler((i) => imgs[i % imgs.length], 10, 'myboundary', withLength));
    const port = await server.listen();
    const got = await take(createSource('c', { type: 'http-snapshot', url: `http://127.0.0.1:${port}/video`, interval_ms: 5000 }, silentLogger), 6);
    await server.close();
    t.deepEqual(await Promise.all(got.map(colour)), [0, 1, 2, 3, 4, 5], `with Content-Length: ${withLength}`);
  }
});

test('corrupt parts in a live MJPEG stream (truncated, random, empty) are skipped and counted; the feed goes on', async (t) => {
  const imgs = await frames;
  const truncated = imgs[20].subarray(0, imgs[20].length >> 1);
  const random = Buffer.from(Array.from({ length: 500 }, (_, i) => (i * 131 + 7) % 256));
  const script = [imgs[1], truncated, imgs[2], random, imgs[3], Buffer.alloc(0), imgs[4]];
  const server = new TestServer(mjpegHandler((i) => script[i] ?? imgs[5], 80));
  const port = await server.listen();
  t.teardown(() => server.close());
  const feed = new CameraFeed({ cameraId: 'c', source: createSource('c', { type: 'http-snapshot', url: `http://127.0.0.1:${port}/` }, silentLogger), fps: 1000, log: silentLogger });
  t.teardown(() => feed.stop());
  const seen: number[] = [];
  while (!seen.includes(5)) seen.push(colourIndex((await feed.next())!.data));
  const { corrupt, dropped } = feed.stats();
  // The consumer waits on every frame, so normally nothing is dropped and all three bad parts are decoded (and
  // refused); on a badly stalled machine a dropped bad part is never decoded, hence the fallback bound.
  if (dropped === 0) t.is(corrupt, 3);
  else t.true(corrupt >= 3 - dropped && corrupt >= 1, `corrupt ${corrupt}, dropped ${dropped}`);
  // Every good frame before the steady one arrives in order (all of them when nothing was dropped).
  const good = seen.filter((c) => c !== 5);
  if (dropped === 0) t.deepEqual(good, [1, 2, 3, 4]);
  else t.deepEqual(good, [...good].sort().filter((c) => [1, 2, 3, 4].includes(c)));
});

test('the HTTP server going away mid-stream: the feed reconnects and frames resume when it is back', async (t) => {
  const imgs = await frames;
  const handler = mjpegHandler((i) => imgs[i % 10], 20);
  let server = new TestServer(handler);
  const port = await server.listen();
  t.teardown(() => server.close());
  const feed = new CameraFeed({
    cameraId: 'c',
    source: createSource('c', { type: 'http-snapshot', url: `http://127.0.0.1:${port}/` }, silentLogger),
    fps: 1000,
    log: silentLogger,
    backoff: { baseMs: 50, capMs: 200 },
  });
  t.teardown(() => feed.stop());
  const before = (await feed.next())!;
  await server.close();
  await waitFor('the failure noticed', () => feed.stats().state !== 'running');
  await delay(300); // down for a while: connection attempts are refused
  t.true(feed.stats().reconnects >= 1);
  const receivedBefore = feed.stats().received;
  server = new TestServer(handler);
  await server.listen(port);
  // Skip what was left in the slot from before the outage: wait for a frame received after it.
  let after = (await feed.next())!;
  while (after.seq < receivedBefore) after = (await feed.next())!;
  t.true(after.seq > before.seq);
  t.is(feed.stats().state, 'running');
  t.true(/ended|ECONNREFUSED|terminated|socket/i.test(feed.stats().lastError ?? ''), feed.stats().lastError);
});
