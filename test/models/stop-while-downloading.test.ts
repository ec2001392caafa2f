/**
 * Stopping the agent while a model download is in flight: systemd gives it TimeoutStopSec (20 s) before SIGKILL, and
 * a download may take its whole timeout (two minutes) or wait half a minute for retained chunks that never come. The
 * update service and the release follower cancel what is in flight, report no failure for it, and stop at once.
 * Real parts: Mosquitto, an http server that holds its answer, the real installer and onnxruntime loader.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import test from 'ava';
import type { MqttClient } from 'mqtt';
import pino from 'pino';
import { silentLogger } from '../../agent/core/log.js';
import type { ModelInstaller, UpdateResult } from '../../agent/models/installer.js';
import { encodeRelease, releaseTopics, type ReleaseBody, type ReleaseSource } from '../../agent/models/release-record.js';
import { ReleaseFollower } from '../../agent/models/release-follower.js';
import { encodePushMessage, topics } from '../../agent/models/transport.js';
import { ModelUpdateService } from '../../agent/models/updates.js';
import { linkFromMqttClient } from '../../agent/mqtt/update-link.js';
import { mosquittoAvailable, startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { connectedClient, startedInstaller } from './installer-fixture.js';
import { makeKey, tempDir, trust } from './support.js';

const key = makeKey();
const BASE = 'fertest-stop';
/** What the agent's stop may take here: far below the waits it would otherwise sit out (set to ten minutes below). */
const STOP_DEADLINE_MS = 20_000;
const LONG_MS = 10 * 60_000;

const connected = connectedClient;

async function installer(id: string): Promise<{ installer: ModelInstaller; results: UpdateResult[] }> {
  const inst = await startedInstaller(id, [key]);
  const results: UpdateResult[] = [];
  inst.onResult((r) => results.push(r));
  return { installer: inst, results };
}

/** An http server that answers every request with a first kilobyte and then holds the connection open. */
async function holdingServer(): Promise<{ origin: string; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const open: ServerResponse[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(req.url ?? '');
    res.writeHead(200);
    res.write(Buffer.alloc(1024));
    open.push(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: async () => {
      for (const res of open) res.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** 'stopped' when `stop` resolves within the deadline, else 'hung'. */
async function stopsWithin(stop: Promise<void>): Promise<'stopped' | 'hung'> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<'hung'>((r) => (timer = setTimeout(() => r('hung'), STOP_DEADLINE_MS)));
  try {
    return await Promise.race([stop.then(() => 'stopped' as const), hung]);
  } finally {
    clearTimeout(timer);
  }
}

function release(id: string, source: ReleaseSource): ReleaseBody {
  return {
    id,
    target: 'all',
    seq: Date.now(),
    issued_at: new Date().toISOString(),
    name: 'fer-vgg-s',
    version: '9.0.0',
    manifest_sha256: 'b'.repeat(64),
    source,
    allow_label_change: false,
  };
}

if (!mosquittoAvailable()) {
  test('mosquitto is installed (apt-get install mosquitto)', (t) => t.fail('mosquitto not found: these tests need a real broker'));
} else {
  let broker: Mosquitto;
  test.before(async () => {
    broker = await startMosquitto();
  });
  test.after.always(async () => {
    await broker?.stop();
  });

  test.serial('a pushed fetch in flight is cancelled by stop: no failure is reported, and stop does not wait for the download', async (t) => {
    const server = await holdingServer();
    const { installer: inst, results } = await installer('stop-fetch');
    const service = new ModelUpdateService({
      installer: inst, agentId: 'stop-fetch', groups: [], baseTopic: BASE, maxBundleBytes: 8 << 20, log: silentLogger,
      fetchAllow: [`${server.origin}/models/`], fetchTimeoutMs: LONG_MS,
    });
    const client = await connected(broker.url, 'agent-stop-fetch');
    const pusher = await connected(broker.url, 'pusher-stop-fetch');
    try {
      await service.attach(linkFromMqttClient(client));
      const m = encodePushMessage({ type: 'fetch', transfer: 'stop-fetch-0001', url: `${server.origin}/models/big.fer`, sha256: 'c'.repeat(64) });
      await pusher.publishAsync(topics.push(BASE, 'stop-fetch'), Buffer.from(m), { qos: 1 });
      await until('the download to start', () => server.hits.length === 1 && service.status().in_progress);
      t.is(await stopsWithin(service.detach()), 'stopped');
      t.deepEqual(results.map((r) => `${r.id}: ${r.reason}`), [], 'a cancelled download is not a failed update');
    } finally {
      await Promise.all([client.endAsync(), pusher.endAsync()]);
      await server.close();
    }
  });

  for (const kind of ['url', 'chunks'] as const) {
    test.serial(`a release whose ${kind === 'url' ? 'download hangs' : 'retained chunks never come'} is cancelled by stop, reported nowhere, and tried again at the next attach`, async (t) => {
      const server = await holdingServer();
      const { installer: inst, results } = await installer(`stop-rel-${kind}`);
      const states: string[] = [];
      const logged: string[] = [];
      const log = pino({ level: 'info' }, { write: (line: string) => void logged.push((JSON.parse(line) as { msg: string }).msg) });
      // One follower, detached and attached again as the agent's update connection would be.
      const f: ReleaseFollower = new ReleaseFollower({
        installer: inst, agentId: `stop-rel-${kind}`, groups: [], baseTopic: BASE, trust: trust([key]),
        maxBundleBytes: 8 << 20, stateFile: path.join(tempDir('fer-releases-'), 'releases.json'),
        fetchAllow: [`${server.origin}/models/`], log, blobIdleMs: LONG_MS, fetchTimeoutMs: LONG_MS,
        onChange: () => states.push(f.state?.state ?? 'none'),
      });
      const cancelled = (): number => logged.filter((m) => m === 'release download cancelled: the agent is stopping').length;
      const source: ReleaseSource = kind === 'url'
        ? { kind: 'url', sha256: 'd'.repeat(64), bytes: 4096, url: `${server.origin}/models/big.fer` }
        // No chunk of this archive is on the broker: the follower waits for them.
        : { kind: 'chunks', sha256: 'e'.repeat(64), bytes: 4096, chunks: 1, chunk_bytes: 4096 };
      const publisher = await connected(broker.url, `releaser-${kind}`);
      const clients: MqttClient[] = [publisher];
      try {
        await publisher.publishAsync(releaseTopics.record(BASE, 'all'), encodeRelease(release(`stop-rel-${kind}-01`, source), key.key), { qos: 1, retain: true });
        for (let attempt = 1; attempt <= 2; attempt++) {
          const client = await connected(broker.url, `agent-stop-rel-${kind}-${attempt}`);
          clients.push(client);
          await f.attach(linkFromMqttClient(client));
          const started = (): number => logged.filter((m) => m === 'fetching release').length;
          await until(`attempt ${attempt} to start fetching`, () => started() === attempt && (kind === 'chunks' || server.hits.length === attempt));
          t.is(await stopsWithin(f.detach()), 'stopped', `attempt ${attempt}`);
          t.is(cancelled(), attempt, `attempt ${attempt}'s download was cancelled (log: ${logged.join('; ')})`);
          t.is(f.state?.state, 'fetching', 'the cancelled download is not recorded as failed');
        }
        t.deepEqual(results.map((r) => `${r.id}: ${r.reason}`), [], 'nothing is reported for a cancelled download');
        t.deepEqual(states, ['fetching'], 'the state never left fetching');
      } finally {
        await publisher.publishAsync(releaseTopics.record(BASE, 'all'), '', { qos: 1, retain: true });
        await Promise.all(clients.map((c) => c.endAsync()));
        await server.close();
      }
    });
  }
}
