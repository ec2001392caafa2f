/**
 * Model pushes over a real Mosquitto: the push/rollback CLI handlers on one side, the agents' update services
 * (real installer, real onnxruntime loader, own state dirs) on the other.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import type { MqttClient } from 'mqtt';
import type { ReasonCode } from '../../agent/core/errors.js';
import { silentLogger } from '../../agent/core/log.js';
import { packBundle } from '../../agent/models/archive.js';
import { loadBundle } from '../../agent/models/bundle.js';
import { ModelInstaller } from '../../agent/models/installer.js';
import { modelPushCommand, modelRollbackCommand, modelStatusCommand } from '../../agent/cli/model-cli.js';
import { chunkTransfer, encodePushMessage, parseStatus, topics, type StatusPayload } from '../../agent/models/transport.js';
import { ModelUpdateService } from '../../agent/models/updates.js';
import { linkFromMqttClient } from '../../agent/mqtt/update-link.js';
import { mosquittoAvailable, startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { connectedClient, startedInstaller } from './installer-fixture.js';
import { bundleCopy, flipByte, makeKey, selfTests, sign, tempDir } from './support.js';

const key = makeKey();
const BASE = 'fertest';

interface TestAgent {
  id: string;
  installer: ModelInstaller;
  service: ModelUpdateService;
  client: MqttClient;
  activations: string[];
  stop(): Promise<void>;
}

const connected = connectedClient;

async function startAgent(broker: Mosquitto, id: string, groups: string[], maxBundleBytes = 8 << 20, fetchAllow: string[] = []): Promise<TestAgent> {
  const activations: string[] = [];
  const installer = await startedInstaller(id, [key], { maxBundleBytes, onActivate: (m) => void activations.push(m.version) });
  const service = new ModelUpdateService({ installer, agentId: id, groups, baseTopic: BASE, maxBundleBytes, log: silentLogger, transferIdleMs: 2000, fetchAllow });
  const client = await connected(broker.url, `agent-${id}`);
  await service.attach(linkFromMqttClient(client));
  return {
    id, installer, service, client, activations,
    async stop() {
      await service.detach();
      await client.endAsync();
    },
  };
}

/** The retained status of an agent, as a fresh subscriber sees it. */
async function retainedStatus(broker: Mosquitto, agentId: string): Promise<StatusPayload> {
  const c = await connected(broker.url, `probe-${Math.random().toString(36).slice(2)}`);
  try {
    return await new Promise<StatusPayload>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no retained status for ${agentId}`)), 5000);
      c.on('message', (_topic, payload, packet) => {
        const s = parseStatus(payload);
        if (s && packet.retain) {
          clearTimeout(t);
          resolve(s);
        }
      });
      void c.subscribeAsync(topics.status(BASE, agentId), { qos: 1 });
    });
  } finally {
    await c.endAsync();
  }
}

function signedBundle(version: string, edit?: Parameters<typeof bundleCopy>[1]): string {
  const dir = bundleCopy(version, edit);
  sign(dir, key);
  return dir;
}

const cli = (broker: Mosquitto, ...args: string[]): string[] => [...args, '--mqtt-url', broker.url, '--base-topic', BASE, '--timeout-s', '20'];

/** Publishes raw push messages as a buggy or hostile sender would; waits until the agents have handled them. */
async function rawPush(broker: Mosquitto, target: string, archive: Uint8Array, agents: TestAgent[], transfer = `raw-${Date.now().toString(36)}`): Promise<string> {
  const c = await connected(broker.url, `raw-${transfer}`);
  for (const m of chunkTransfer(archive, transfer, 16 * 1024)) await c.publishAsync(topics.push(BASE, target), Buffer.from(encodePushMessage(m)), { qos: 1 });
  await c.endAsync();
  for (let i = 0; i < 100 && !agents.every((a) => a.installer.lastResult?.id === transfer); i++) await new Promise((r) => setTimeout(r, 50));
  for (const a of agents) await a.service.idle();
  return transfer;
}

if (!mosquittoAvailable()) {
  test('mosquitto is installed (apt-get install mosquitto)', (t) => t.fail('mosquitto not found: model push tests need a real broker'));
} else {
  let broker: Mosquitto;
  let a: TestAgent;
  let b: TestAgent;
  test.before(async () => {
    broker = await startMosquitto();
    a = await startAgent(broker, 'agent-a', ['kitchen']);
    b = await startAgent(broker, 'agent-b', []);
  });
  test.after.always(async () => {
    await a?.stop();
    await b?.stop();
    await broker?.stop();
  });

  // The tests share two agents and run in order (serial), like one session on a real fleet.
  test.serial('push to one agent changes only that agent; status is retained with the new version', async (t) => {
    const code = await modelPushCommand(cli(broker, signedBundle('1.0.0'), '--to', 'agent-a', '--chunk-kb', '8'), silentLogger);
    t.is(code, 0);
    t.deepEqual(a.activations, ['1.0.0']);
    t.deepEqual(b.activations, []);
    const s = await retainedStatus(broker, 'agent-a');
    t.is(s.installed_version, '1.0.0');
    t.is(s.active.source, 'installed');
    t.true(s.last_update?.ok);
    t.false(s.in_progress);
    t.is((await retainedStatus(broker, 'agent-b')).installed_version, '0.0.0');
  });

  test.serial('push to a group reaches its members only; push to all reaches both', async (t) => {
    t.is(await modelPushCommand(cli(broker, signedBundle('1.1.0'), '--to', 'kitchen'), silentLogger), 0);
    t.deepEqual(a.activations, ['1.0.0', '1.1.0']);
    t.deepEqual(b.activations, []);
    t.is(await modelPushCommand(cli(broker, signedBundle('1.2.0'), '--to', 'all'), silentLogger), 0);
    t.deepEqual(a.activations, ['1.0.0', '1.1.0', '1.2.0']);
    t.deepEqual(b.activations, ['1.2.0']);
  });

  test.serial('fetch messages: downloaded only from model.fetch_allow, refused elsewhere without a request, at most the transfer slots at once', async (t) => {
    const archive = await packBundle(await loadBundle(signedBundle('1.3.0')));
    const file = `${tempDir()}/b.fer`;
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, archive);
    const hits: string[] = [];
    const held: Array<() => void> = [];
    const server: Server = createServer((req, res) => {
      hits.push(req.url ?? '');
      if (req.url === '/models/b.fer') res.end(Buffer.from(archive));
      else if (req.url === '/models/away.fer') res.writeHead(302, { location: '/metrics' }).end();
      else if (req.url?.startsWith('/models/slow')) {
        // Streams a little and holds the connection: a download that takes its time.
        res.writeHead(200);
        res.write(Buffer.alloc(1024));
        held.push(() => res.destroy());
      } else res.writeHead(404).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const fetcher = await startAgent(broker, 'agent-fetch', [], 8 << 20, [`${origin}/models/`]);
    try {
      t.is(await modelPushCommand(cli(broker, file, '--to', 'agent-fetch', '--fetch-url', `${origin}/models/b.fer`), silentLogger), 0);
      t.deepEqual(hits, ['/models/b.fer']);
      t.deepEqual(fetcher.activations, ['1.3.0']);
      // A URL serving other bytes than announced is refused.
      t.is(await modelPushCommand(cli(broker, file, '--to', 'agent-fetch', '--fetch-url', `${origin}/models/missing.fer`), silentLogger), 1);
      t.regex(fetcher.installer.lastResult!.message, /HTTP 404/);

      // Outside the allow-list (another path on the same host, loopback /metrics, an agent with no list at all):
      // refused before any request, and the refusal does not echo the URL or anything about it.
      hits.length = 0;
      for (const [agent, url] of [[fetcher, `${origin}/metrics`], [fetcher, `http://user:pw@127.0.0.1:${origin.split(':')[2]}/models/b.fer`], [b, `${origin}/models/b.fer`]] as const) {
        t.is(await modelPushCommand(cli(broker, file, '--to', agent.id, '--fetch-url', url), silentLogger), 1);
        const r = agent.installer.lastResult!;
        t.is(r.reason, 'command_invalid');
        t.regex(r.message, /model\.fetch_allow/);
        t.false(r.message.includes('127.0.0.1'), `the refusal echoes the URL: ${r.message}`);
      }
      t.deepEqual(hits, [], 'no request was made for a refused URL');

      // Redirects are followed only within the allow-list: an allowed server cannot send the agent elsewhere.
      t.is(await modelPushCommand(cli(broker, file, '--to', 'agent-fetch', '--fetch-url', `${origin}/models/away.fer`), silentLogger), 1);
      t.regex(fetcher.installer.lastResult!.message, /redirects outside model\.fetch_allow/);
      t.deepEqual(hits, ['/models/away.fer'], 'the redirect target was not requested');
      hits.length = 0;
      await fetcher.service.idle(); // its slot is given back after the answer: wait for it before the flood

      // A flood of fetch messages: at most the transfer slots (2) download at once, the rest are refused.
      const refused: string[] = [];
      fetcher.installer.onResult((r) => {
        if (r.id?.startsWith('flood-') && r.reason === 'model_transfer_refused') refused.push(r.id);
      });
      const c = await connected(broker.url, 'fetch-flood');
      const sha = 'a'.repeat(64);
      for (let i = 0; i < 6; i++) {
        const m = encodePushMessage({ type: 'fetch', transfer: `flood-${i}-xxxx`, url: `${origin}/models/slow-${i}`, sha256: sha });
        await c.publishAsync(topics.push(BASE, 'agent-fetch'), Buffer.from(m), { qos: 1 });
      }
      await c.endAsync();
      for (let i = 0; i < 400 && hits.length + refused.length < 6; i++) await new Promise((r) => setTimeout(r, 25));
      t.is(hits.length, 2, `downloads started: ${hits.join(', ')}`);
      t.is(refused.length, 4, `refused: ${refused.join(', ')}`);
      for (const h of held) h();
      await fetcher.service.idle();
    } finally {
      for (const h of held) h();
      server.close();
      await fetcher.stop();
      // Its retained status would otherwise be listed by the later `model status` test.
      const c = await connected(broker.url, 'fetch-cleanup');
      await c.publishAsync(topics.status(BASE, 'agent-fetch'), '', { qos: 1, retain: true });
      await c.endAsync();
    }
  });

  test.serial('rejections over MQTT: the reason is on the status topic and the old model keeps serving', async (t) => {
    const before = a.installer.active.version;
    const cases: Array<[ReasonCode, () => Promise<Uint8Array>, string]> = [
      ['model_signature_invalid', async () => {
        const dir = signedBundle('2.0.0');
        const { readFileSync, writeFileSync } = await import('node:fs');
        const m = JSON.parse(readFileSync(`${dir}/manifest.json`, 'utf8')) as { version: string; files: Record<string, unknown> };
        m.version = '2.0.1';
        writeFileSync(`${dir}/manifest.json`, JSON.stringify(m));
        const { writeTar } = await import('../../agent/models/archive.js');
        return writeTar(['manifest.json', 'signature.json', ...Object.keys(m.files)].map((p) => ({ path: p, data: new Uint8Array(readFileSync(`${dir}/${p}`)) })));
      }, 'does not match manifest.json'],
      ['model_hash_mismatch', async () => {
        const dir = signedBundle('2.0.0');
        const archive = await packBundle(await loadBundle(dir), { gzip: false });
        // Flip a byte of model.onnx inside the archive (entries are views into it): manifest and signature still
        // state the old hash.
        const { readTar } = await import('../../agent/models/archive.js');
        const onnx = readTar(archive, { maxBytes: 8 << 20, maxEntries: 16 }).find((e) => e.path === 'model.onnx')!;
        onnx.data[1000] = onnx.data[1000]! ^ 0xff;
        return archive;
      }, 'has sha256'],
      ['model_archive_corrupt', async () => new Uint8Array(Buffer.from('this is not a tar archive'.repeat(40))), 'archive'],
      ['model_selftest_failed', async () => packBundle(await loadBundle(signedBundle('2.0.0', (m) => {
        for (const st of selfTests(m)) st.cases[0]!.expected[6] = 0.99;
      }))), 'self-test case 0 '],
      ['model_shape_mismatch', async () => packBundle(await loadBundle(signedBundle('2.0.0', (m) => {
        m.labels = m.labels.slice(0, 5);
        for (const st of selfTests(m)) for (const c of st.cases) c.expected = c.expected.slice(0, 5);
      }))), 'output shape'],
      ['model_untrusted', async () => packBundle(await loadBundle(bundleCopy('2.0.0'))), 'allow_unsigned'],
    ];
    for (const [reason, make, msg] of cases) {
      const transfer = await rawPush(broker, 'agent-a', await make(), [a]);
      const s = await retainedStatus(broker, 'agent-a');
      t.is(s.last_update?.id, transfer, reason);
      t.false(s.last_update?.ok, reason);
      t.is(s.last_update?.reason, reason, s.last_update?.message);
      t.true(s.last_update!.message.includes(msg), `${reason}: ${s.last_update?.message}`);
      t.is(s.installed_version, before, `${reason}: still serving ${before}`);
      t.is(s.latest_version === before || s.latest_version === '2.0.0' || s.latest_version === '2.0.1', true);
    }
    t.is(a.installer.active.version, before);
    t.is(a.activations[a.activations.length - 1], before);
  });

  test.serial('a replayed older bundle, or another build under the active version, is refused as model_downgrade', async (t) => {
    const before = a.installer.active.version;
    const older = await rawPush(broker, 'agent-a', await packBundle(await loadBundle(signedBundle('0.9.0'))), [a]);
    let s = await retainedStatus(broker, 'agent-a');
    t.is(s.last_update?.id, older);
    t.is(s.last_update?.reason, 'model_downgrade');
    t.regex(s.last_update!.message, /parity-fixture 0\.9\.0 is older than the active parity-fixture /);
    t.regex(s.release_summary, /rejected \(model_downgrade\)/, 'Home Assistant shows the refusal');
    t.not(s.latest_version, '0.9.0', 'and does not offer the older version as an update');
    const same = await rawPush(broker, 'agent-a', await packBundle(await loadBundle(signedBundle(before, (m) => (m.created = '2026-02-02T00:00:00Z')))), [a]);
    s = await retainedStatus(broker, 'agent-a');
    t.is(s.last_update?.id, same);
    t.is(s.last_update?.reason, 'model_downgrade');
    t.regex(s.last_update!.message, /a different bundle under the active version/);
    t.is(a.installer.active.version, before);
  });

  test.serial('a model with other labels is refused unless the push allows it, and then the status warns', async (t) => {
    const agent = await startAgent(broker, 'agent-labels', []);
    try {
      const renamed = signedBundle('5.0.0', (m) => (m.labels = m.labels.map((l) => (l === 'happy' ? 'joy' : l))));
      t.is(await modelPushCommand(cli(broker, renamed, '--to', 'agent-labels'), silentLogger), 1);
      let s = await retainedStatus(broker, 'agent-labels');
      t.is(s.last_update?.reason, 'model_labels_changed');
      t.regex(s.last_update!.message, /has labels \[angry, disgust, fear, joy, sad, surprise, neutral\] instead of the running model's \[angry, disgust, fear, happy,/);
      t.deepEqual(agent.activations, []);
      t.is(await modelPushCommand(cli(broker, renamed, '--to', 'agent-labels', '--allow-label-change'), silentLogger), 0);
      s = await retainedStatus(broker, 'agent-labels');
      t.true(s.last_update?.ok);
      t.regex(s.release_summary, /WARNING: labels changed/, 'Home Assistant shows the warning');
      t.deepEqual(agent.activations, ['5.0.0']);
    } finally {
      await agent.stop();
    }
  });

  test.serial('a malformed push message is answered on the status topic, not only logged', async (t) => {
    const c = await connected(broker.url, 'malformed-sender');
    const header = JSON.stringify({ proto: 'fer-model-push/1', type: 'begin', transfer: 'malformed-0001', bytes: 10, sha256: 'a'.repeat(64), chunks: 7, chunk_bytes: 4 });
    await c.publishAsync(topics.push(BASE, 'agent-a'), Buffer.from(header + '\n'), { qos: 1 });
    await c.endAsync();
    let s = await retainedStatus(broker, 'agent-a');
    for (let i = 0; i < 100 && s.last_update?.id !== 'malformed-0001'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      s = await retainedStatus(broker, 'agent-a');
    }
    t.is(s.last_update?.id, 'malformed-0001');
    t.is(s.last_update?.reason, 'command_invalid');
    t.regex(s.last_update!.message, /chunks = 7 does not fit bytes 10/);
  });

  test.serial('a push to an agent nobody knows says so at once and lists the known agents; --wait pushes anyway', async (t) => {
    const lines: string[] = [];
    const write = process.stdout.write.bind(process.stdout);
    process.stdout.write = ((chunk: string | Uint8Array) => (lines.push(String(chunk)), true)) as typeof process.stdout.write;
    const t0 = Date.now();
    let code: number;
    try {
      code = await modelPushCommand(cli(broker, signedBundle('9.0.0'), '--to', 'pi-hall'), silentLogger);
    } finally {
      process.stdout.write = write;
    }
    t.is(code, 1);
    t.true(Date.now() - t0 < 15_000, 'no waiting for the timeout');
    t.regex(lines.join(''), /no agent on the broker answers to "pi-hall"; known agents: .*agent-a.*agent-b/);
    t.regex(lines.join(''), /pass --wait/);
    // With --wait it is published and waits (here: the short timeout) for an agent that may come online.
    t.is(await modelPushCommand([...cli(broker, signedBundle('9.0.0'), '--to', 'pi-hall', '--wait').slice(0, -1), '2'], silentLogger), 2, 'sent, and no agent answered');
  });

  test.serial('oversized pushes are refused at begin; incomplete transfers time out with a reason', async (t) => {
    const small = await startAgent(broker, 'agent-small', [], 10_000);
    try {
      const archive = await packBundle(await loadBundle(signedBundle('3.0.0')));
      const id = await rawPush(broker, 'agent-small', archive, [small]);
      t.is(small.installer.lastResult?.id, id);
      t.is(small.installer.lastResult?.reason, 'model_too_large');
      // Begin and one chunk only: the agent gives up after its idle timeout (2 s here).
      const c = await connected(broker.url, 'partial-sender');
      const msgs = [...chunkTransfer(new Uint8Array(9000), 'partial-0001', 4096)];
      for (const m of msgs.slice(0, 2)) await c.publishAsync(topics.push(BASE, 'agent-small'), Buffer.from(encodePushMessage(m)), { qos: 1 });
      await c.endAsync();
      for (let i = 0; i < 100 && small.installer.lastResult?.id !== 'partial-0001'; i++) await new Promise((r) => setTimeout(r, 100));
      t.is(small.installer.lastResult?.reason, 'model_archive_corrupt');
      t.regex(small.installer.lastResult!.message, /1 of 3 chunks, no end/);
      t.deepEqual(small.activations, []);
    } finally {
      await small.stop();
    }
  });

  test.serial('retained push messages are ignored (they would replay on every reconnect)', async (t) => {
    const c = await connected(broker.url, 'retainer');
    const archive = await packBundle(await loadBundle(signedBundle('4.0.0')));
    for (const m of chunkTransfer(archive, 'retained-0001')) await c.publishAsync(topics.push(BASE, 'agent-late'), Buffer.from(encodePushMessage(m)), { qos: 1, retain: true });
    // An agent subscribing now receives the retained messages.
    const late = await startAgent(broker, 'agent-late', []);
    await new Promise((r) => setTimeout(r, 500));
    await late.service.idle();
    t.deepEqual(late.activations, []);
    t.not(late.installer.lastResult?.id, 'retained-0001');
    await late.stop();
    await c.publishAsync(topics.push(BASE, 'agent-late'), '', { qos: 1, retain: true });
    await c.endAsync();
  });

  test.serial('rollback over MQTT restores the previous version; model status lists the agents', async (t) => {
    const prev = a.activations[a.activations.length - 2];
    t.is(a.installer.active.version, '1.2.0');
    t.is(await modelRollbackCommand(cli(broker, '--agent', 'agent-a'), silentLogger), 0);
    t.is(a.installer.active.version, '1.1.0');
    t.is(prev, '1.1.0');
    const s = await retainedStatus(broker, 'agent-a');
    t.is(s.installed_version, '1.1.0');
    t.is(s.last_update?.action, 'rollback');
    t.true(s.last_update?.ok);
    t.is(s.latest_version, '2.0.0', 'Home Assistant still sees the newer offered version');
    t.is(await modelStatusCommand(['--mqtt-url', broker.url, '--base-topic', BASE], silentLogger), 0);
    // And forward again: the version rolled back from was kept.
    t.is(await modelRollbackCommand(cli(broker, '--agent', 'agent-a', '--forward'), silentLogger), 0);
    t.is(a.installer.active.version, '1.2.0');
    t.regex((await retainedStatus(broker, 'agent-a')).last_update?.message ?? '', /rolled forward from .* to .* 1\.2\.0/);
    t.is(await modelRollbackCommand(cli(broker, '--agent', 'agent-a', '--forward'), silentLogger), 1, 'nothing later');
    t.is(await modelRollbackCommand(cli(broker, '--agent', 'agent-a'), silentLogger), 0);
    t.is(a.installer.active.version, '1.1.0');
    // Nothing to roll back to on b once back at its base model (it installed 1.2.0 only: the fetch test has its own agent).
    t.is(await modelRollbackCommand(cli(broker, '--agent', 'agent-b'), silentLogger), 0);
    t.is(b.installer.active.source, 'base');
    t.is(await modelRollbackCommand(cli(broker, '--agent', 'agent-b'), silentLogger), 1);
    t.is(b.installer.lastResult?.reason, 'command_invalid');
  });

  test.serial('a push to an agent that does not exist reports no answer', async (t) => {
    t.is(await modelPushCommand([...cli(broker, signedBundle('5.0.0'), '--to', 'nobody', '--wait'), '--timeout-s', '1'], silentLogger), 2);
  });

  test.serial('the push CLI refuses a local bundle whose files do not match before sending anything', async (t) => {
    const dir = signedBundle('6.0.0');
    flipByte(`${dir}/model.onnx`);
    await t.throwsAsync(modelPushCommand(cli(broker, dir, '--to', 'agent-a'), silentLogger), { message: /has sha256/ });
  });
}
