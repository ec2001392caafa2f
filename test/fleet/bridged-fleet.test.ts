/**
 * A fleet past one broker, with real parts: three Mosquittos (two site brokers, each bridged to a central one by
 * Mosquitto's own `connection` block, the bridge carried by a TCP relay the test can cut), ten real `fer-agent run`
 * processes (five per site, one idle camera each), and the operator's CLI on the central broker only.
 *
 * Shows: a release to `all` reaches every agent; a site whose bridge is cut during the release converges when it
 * returns; an agent that was off during the release converges when it starts; a replayed older record and a forged
 * one are refused and reported while every agent keeps its model; the fleet view lists every agent from the central
 * broker; Home Assistant discovery stays on each site's broker. Prints the figures the README quotes (time to the last
 * agent converged, bytes through the central broker per agent, broker and agent RSS, agent CPU).
 *
 *   npm run test:fleet      (FER_FLEET_REPORT=file.json also writes the figures as JSON)
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { connect } from 'mqtt';
import sharp from 'sharp';
import { packageRoot } from '../../agent/core/paths.js';
import { freePort, mosquittoAvailable, startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { waitFor } from '../helpers/wait.js';
import { bundleCopy, fixtureBundle, makeKey, selfTests, sign, tempDir } from '../models/support.js';
import { FleetAgent, procStats, StatusBoard, TcpProxy } from './support.js';

const run = promisify(execFile);
const MAIN = path.join(packageRoot, 'dist', 'agent', 'cli', 'main.js');
const PER_SITE = 5;
const SITES = ['site_a', 'site_b'] as const;

interface Fleet {
  central: Mosquitto;
  sites: Record<string, Mosquitto>;
  proxies: Record<string, TcpProxy>;
  agents: FleetAgent[];
  board: StatusBoard;
  key: ReturnType<typeof makeKey>;
  bundles: { v1: string; v2: string; mid: string; v3: string; bad: string };
  dir: string;
}

let fleet: Fleet | null = null;
let startPids: Array<number | undefined> = [];
const figures: Record<string, unknown> = {};

function need(): Fleet {
  if (!fleet) throw new Error('the fleet did not start');
  return fleet;
}

async function cli(args: string[]): Promise<string> {
  const r = await run(process.execPath, [MAIN, ...args], { env: { ...process.env, FER_LOG_LEVEL: 'warn' }, timeout: 120_000 });
  return r.stdout;
}

async function release(bundle: string, to: string): Promise<string> {
  const f = need();
  const outText = await cli(['model', 'release', bundle, '--to', to, '--key', f.key.keyFile, '--mqtt-url', f.central.url]);
  const id = / as (rel-[a-z0-9-]+) /.exec(outText)?.[1];
  if (!id) throw new Error(`no release id in: ${outText}`);
  return id;
}

/** Reads the retained messages under `filter` on a broker (a round trip through it is the barrier). */
async function retained(url: string, filter: string): Promise<Map<string, Buffer>> {
  const c = connect(url, { clientId: `fleet-read-${Math.random().toString(36).slice(2, 10)}` });
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  try {
    const { readRetained } = await import('../../agent/cli/broker-client.js');
    return await readRetained(c, filter);
  } finally {
    await c.endAsync();
  }
}

/** Bytes the central broker has sent, from its $SYS topic (published every second here). */
async function centralBytesSent(url: string): Promise<number> {
  const c = connect(url, { clientId: `fleet-sys-${Math.random().toString(36).slice(2, 10)}` });
  try {
    return await new Promise<number>((resolve, reject) => {
      // The second value: the first is the retained one, up to a sys_interval old; the broker publishes every second.
      let n = 0;
      c.on('message', (_t, p) => {
        if (++n === 2) resolve(Number(p.toString()));
      });
      c.once('error', reject);
      c.once('connect', () => void c.subscribeAsync('$SYS/broker/bytes/sent', { qos: 0 }).catch(reject));
    });
  } finally {
    await c.endAsync();
  }
}

/** The `topic` lines of deploy/mosquitto/site-bridge.conf: the test bridges exactly what users are told to bridge. */
const bridgeTopics = readFileSync(path.join(packageRoot, 'deploy', 'mosquitto', 'site-bridge.conf'), 'utf8').split('\n').filter((l) => l.startsWith('topic '));

const ids = SITES.flatMap((s) => Array.from({ length: PER_SITE }, (_, i) => `${s.slice(-1)}${i + 1}`));

test.before(async () => {
  if (!mosquittoAvailable()) throw new Error('mosquitto is not installed (Debian: apt-get install -y mosquitto mosquitto-clients)');
  const dir = tempDir('fer-fleet-');
  const key = makeKey();
  // bad: a self-test whose expected outputs the model does not give (a broken export, as a canary would catch it).
  const bundles = {
    v1: bundleCopy('1.0.0'), v2: bundleCopy('1.1.0'), mid: bundleCopy('1.1.5'), v3: bundleCopy('1.2.0'),
    bad: bundleCopy('1.2.0', (m) => {
      for (const st of selfTests(m)) for (const c of st.cases) c.expected = c.expected.map((x) => 1 - x);
    }),
  };
  for (const b of Object.values(bundles)) sign(b, key);
  // An idle camera: one grey frame, nobody there.
  const cameraDir = path.join(dir, 'camera');
  mkdirSync(cameraDir);
  await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 90, g: 90, b: 90 } } }).jpeg().toFile(path.join(cameraDir, 'empty.jpg'));

  const central = await startMosquitto({ extraConfig: ['sys_interval 1'] });
  const proxies: Record<string, TcpProxy> = {};
  const sites: Record<string, Mosquitto> = {};
  for (const s of SITES) {
    proxies[s] = await TcpProxy.start(await freePort(), central.port);
    // Mosquitto's own bridge with the topic lines the project ships; Home Assistant's discovery prefix stays on the site.
    sites[s] = await startMosquitto({
      extraConfig: [`connection central-${s}`, `address 127.0.0.1:${proxies[s]!.port}`, `remote_clientid bridge-${s}`, 'restart_timeout 1', 'try_private true', 'cleansession true', ...bridgeTopics],
    });
  }
  const board = await StatusBoard.open(central.url);
  const agents = ids.map((id) => {
    const site = id.startsWith('a') ? 'site_a' : 'site_b';
    const stateDir = path.join(dir, 'state', id);
    return new FleetAgent({ id, site, brokerUrl: sites[site]!.url, stateDir, baseModel: fixtureBundle(), trustedKey: key.pubFile, cameraDir, dir });
  });
  fleet = { central, sites, proxies, agents, board, key, bundles, dir };
  const t0 = Date.now();
  for (const a of agents) a.start();
  // Every agent's retained status reached the central broker through its site's bridge.
  await waitFor('all ten agents to report to the central broker', () => ids.every((id) => board.status.get(id)?.active.version === '0.0.0' && board.availability.get(id) === 'online'), 240_000, 200)
    .catch((err: Error) => {
      throw new Error(`${err.message}; seen: ${[...board.status.keys()].join(', ')}; ${agents.map((a) => `${a.spec.id}: ${a.log.slice(-300)}`).join('\n')}`);
    });
  figures.agents_started_s = (Date.now() - t0) / 1000;
  figures.agent_rss_mib_idle = agents.map((a) => Math.round(procStats(a.pid!).rssKiB / 1024));
  figures.cpu_ticks_start = agents.map((a) => procStats(a.pid!).cpuTicks);
  startPids = agents.map((a) => a.pid);
  figures.cpu_start_ms = Date.now();
});

test.after.always(async () => {
  const f = fleet;
  if (!f) return;
  await Promise.all(f.agents.map((a) => a.stop()));
  await f.board.close().catch(() => undefined);
  for (const s of SITES) {
    await f.sites[s]?.stop();
    await f.proxies[s]?.cut();
  }
  await f.central.stop();
  if (process.env.FER_FLEET_REPORT) writeFileSync(process.env.FER_FLEET_REPORT, JSON.stringify(figures, null, 2) + '\n');
});

test.serial('a release to all reaches every agent: across a bridge cut during the release, and an agent that was off', async (t) => {
  const f = need();
  const off = f.agents.find((a) => a.spec.id === 'a5')!;
  await off.stop('SIGKILL'); // a pulled plug: the broker publishes its Last Will
  await f.proxies.site_b!.cut();
  const rel = await release(f.bundles.v1, 'all');
  const siteA = ids.filter((id) => id.startsWith('a') && id !== 'a5');
  await waitFor('site A (bridge up) to converge on 1.0.0', () => siteA.every((id) => f.board.converged(rel, '1.0.0').includes(id)), 120_000, 100);
  // Nobody operates anything from here on: the agent comes back, the bridge comes back, and each converges alone.
  off.start();
  await waitFor('the agent that was off to converge when it starts', () => f.board.converged(rel, '1.0.0').includes('a5'), 180_000, 100);
  await f.proxies.site_b!.restore();
  await waitFor('site B to converge once its bridge returns', () => ids.every((id) => f.board.converged(rel, '1.0.0').includes(id)), 180_000, 100)
    .catch((err: Error) => {
      throw new Error(`${err.message}:\n${f.board.describe()}\n${f.agents.map((a) => `${a.spec.id}: ${a.log.slice(-400)}`).join('\n')}`);
    });
  t.deepEqual(f.board.converged(rel, '1.0.0'), [...ids].sort());
  // The record and the archive are retained on the site broker itself: an agent there converges even while the
  // bridge is down again later.
  const onSite = await retained(f.sites.site_b!.url, 'fer/all/model/release');
  t.is(onSite.size, 1);
});

test.serial('a second release: timed, bytes through the central broker counted; a replayed older record and a forged one are refused', async (t) => {
  const f = need();
  const old = (await retained(f.central.url, 'fer/all/model/release')).get('fer/all/model/release')!;
  const bytesBefore = await centralBytesSent(f.central.url);
  const t0 = Date.now();
  const rel = await release(f.bundles.v2, 'all');
  await waitFor('every agent to converge on 1.1.0', () => f.board.converged(rel, '1.1.0').length === ids.length, 180_000, 50);
  figures.release_to_last_converged_s = (Date.now() - t0) / 1000;
  const bytesAfter = await centralBytesSent(f.central.url);
  const archive = (await retained(f.central.url, 'fer/_blob/+/+'));
  figures.archive_bytes = [...archive.values()].reduce((n, b) => n + b.length, 0);
  figures.central_bytes_sent_per_agent = Math.round((bytesAfter - bytesBefore) / ids.length);
  figures.central_rss_mib = Math.round(procStats(f.central.pid()!).rssKiB / 1024);
  figures.site_rss_mib = SITES.map((s) => Math.round(procStats(f.sites[s]!.pid()!).rssKiB / 1024));
  t.log(`release → last of ${ids.length} agents converged: ${figures.release_to_last_converged_s} s; central sent ${figures.central_bytes_sent_per_agent} bytes per agent (archive ${figures.archive_bytes} bytes)`);

  // Replay: the 1.0.0 record, validly signed, published again by anyone who kept a copy.
  const pub = connect(f.central.url, { clientId: 'fleet-attacker' });
  await new Promise<void>((r) => pub.once('connect', () => r()));
  await pub.publishAsync('fer/all/model/release', old, { qos: 1, retain: true });
  await waitFor('every agent to refuse the replayed record as stale', () => ids.every((id) => f.board.status.get(id)?.last_update?.reason === 'release_stale'), 60_000, 50);
  // Forged: a newer version written into a signed body.
  const o = JSON.parse(old.toString()) as { body: string };
  const forged = JSON.stringify({ ...o, body: o.body.replace('"version":"1.0.0"', '"version":"9.0.0"').replace(/"seq":\d+/, `"seq":${Date.now() + 1000}`) });
  await pub.publishAsync('fer/all/model/release', forged, { qos: 1, retain: true });
  await waitFor('every agent to refuse the forged record', () => ids.every((id) => f.board.status.get(id)?.last_update?.reason === 'model_signature_invalid'), 60_000, 50);
  // The seq an agent accepted survives its restart (<state_dir>/releases.json): the replay is still refused after one.
  const b1 = f.agents.find((a) => a.spec.id === 'b1')!;
  await b1.stop();
  await waitFor('b1 offline', () => f.board.availability.get('b1') === 'offline', 60_000, 50);
  await pub.publishAsync('fer/all/model/release', old, { qos: 1, retain: true });
  b1.start();
  await waitFor('b1, restarted, to refuse the replayed record', () => f.board.availability.get('b1') === 'online' && f.board.status.get('b1')?.last_update?.reason === 'release_stale', 120_000, 100)
    .catch((err: Error) => {
      throw new Error(`${err.message}:\n${f.board.describe()}`);
    });
  await pub.endAsync();
  for (const id of ids) t.is(f.board.status.get(id)?.active.version, '1.1.0', `${id} keeps 1.1.0`);
});

test.serial('rollouts: canaries failing their self-test halt it; a canary lost in the soak halts it and the others are rolled back; a good one goes canary → soak → all', async (t) => {
  const f = need();
  const recordOf = async (target: string): Promise<string | null> => {
    const m = await retained(f.central.url, `fer/${target}/model/release`);
    const p = m.get(`fer/${target}/model/release`);
    return p ? (JSON.parse(JSON.parse(p.toString()).body as string) as { id: string }).id : null;
  };
  const allBefore = await recordOf('all');
  const e = (await t.throwsAsync(cli(['model', 'rollout', f.bundles.bad, '--to', 'all', '--canary', '2', '--soak-s', '1', '--timeout-s', '120', '--key', f.key.keyFile, '--mqtt-url', f.central.url]))) as { code?: number; stdout?: string; stderr?: string };
  t.is(e.code, 1, `${e.stdout}${e.stderr}`);
  t.log(e.stderr);
  t.regex(e.stdout ?? '', /halted: a1 failed the release \[model_selftest_failed\]/);
  const status = JSON.parse((await cli(['model', 'rollout', 'status', '--to', 'all', '--json', '--mqtt-url', f.central.url])).trim()) as { phase: string; canaries: string[]; version: string };
  t.like(status, { phase: 'halted', canaries: ['a1', 'a2'], version: '1.2.0' });
  t.is(await recordOf('a1'), null, "the canaries' records are withdrawn");
  t.is(await recordOf('a2'), null);
  t.is(await recordOf('all'), allBefore, 'the rest of the fleet was never offered it');
  for (const id of ids) t.is(f.board.status.get(id)?.active.version, '1.1.0', `${id} still runs 1.1.0`);

  // A canary that installed and then went away during the soak: the rollout halts, the canary still online is rolled
  // back, and the one offline is named with the command to run (a rollback is a command, not desired state).
  const soakRun = cli(['model', 'rollout', f.bundles.mid, '--to', 'all', '--canary', '2', '--soak-s', '120', '--timeout-s', '120', '--key', f.key.keyFile, '--mqtt-url', f.central.url])
    .then(() => ({ code: 0, stdout: '' }), (err: { code?: number; stdout?: string }) => ({ code: err.code, stdout: err.stdout ?? '' }));
  const progress = async (): Promise<{ phase: string; version: string } | undefined> => {
    const p = (await retained(f.central.url, 'fer/_rollout/all')).get('fer/_rollout/all');
    return p ? (JSON.parse(p.toString()) as { phase: string; version: string }) : undefined;
  };
  await waitFor('the 1.1.5 rollout to reach its soak', async () => {
    const p = await progress();
    return p?.version === '1.1.5' && p.phase === 'soak';
  }, 120_000, 250);
  const a2 = f.agents.find((a) => a.spec.id === 'a2')!;
  await a2.stop('SIGKILL');
  const halted = await soakRun;
  t.is(halted.code, 1, halted.stdout);
  t.regex(halted.stdout, /halted: a2 went offline; canaries' records withdrawn, rolled back: a1; still on 1\.1\.5 \(offline\): a2: fer-agent model rollback --agent <id>/);
  await waitFor('a1 back on 1.1.0', () => f.board.status.get('a1')?.active.version === '1.1.0', 60_000, 100);
  a2.start();
  await waitFor('a2 back online, still on 1.1.5', () => f.board.availability.get('a2') === 'online' && f.board.status.get('a2')?.active.version === '1.1.5', 120_000, 100);
  await cli(['model', 'rollback', '--agent', 'a2', '--mqtt-url', f.central.url]);
  await waitFor('a2 rolled back by the operator', () => f.board.status.get('a2')?.active.version === '1.1.0', 60_000, 100);
  t.is(await recordOf('all'), allBefore, 'the rest of the fleet was never offered 1.1.5');

  const good = await cli(['model', 'rollout', f.bundles.v3, '--to', 'all', '--canary', '20%', '--soak-s', '2', '--timeout-s', '120', '--key', f.key.keyFile, '--mqtt-url', f.central.url]);
  t.regex(good, /canary\n.*soak\n.*released/s);
  await waitFor('every agent to converge on 1.2.0 after the rollout', () => ids.every((id) => f.board.status.get(id)?.active.version === '1.2.0' && f.board.status.get(id)?.release?.state === 'converged'), 120_000, 100)
    .catch((err: Error) => {
      throw new Error(`${err.message}:\n${f.board.describe()}`);
    });
  t.pass();
});

test.serial('fleet status on the central broker lists every agent; Home Assistant discovery stays on each site', async (t) => {
  const f = need();
  const rows = (await cli(['fleet', 'status', '--json', '--mqtt-url', f.central.url])).trim().split('\n').map((l) => JSON.parse(l) as { agent: string; online: boolean; version: string; groups: string[]; fps: number | null });
  t.deepEqual(rows.map((r) => r.agent), [...ids].sort());
  for (const r of rows) {
    t.true(r.online, `${r.agent} online`);
    t.is(r.version, '1.2.0');
    t.deepEqual(r.groups, [r.agent.startsWith('a') ? 'site_a' : 'site_b']);
  }
  t.is((await retained(f.central.url, 'homeassistant/#')).size, 0, 'no discovery on the central broker');
  for (const s of SITES) {
    const topics = [...(await retained(f.sites[s]!.url, 'homeassistant/#')).keys()].join('\n');
    for (const id of ids) t.is(topics.includes(`homeassistant/device/fer_${id}/config`), id.startsWith(s.slice(-1)), `${id}'s discovery on ${s}`);
  }
  const ms = Date.now() - (figures.cpu_start_ms as number);
  // CPU over the whole test (two releases, idle cameras), for the agents that ran throughout (not the restarted one).
  const ticks = f.agents.flatMap((a, i) => (a.pid === startPids[i] ? [procStats(a.pid!).cpuTicks - ((figures.cpu_ticks_start as number[])[i] ?? 0)] : []));
  figures.agent_cpu_percent = ticks.map((x) => Math.round((x / 100 / (ms / 1000)) * 1000) / 10);
  figures.agent_rss_mib_end = f.agents.map((a) => Math.round(procStats(a.pid!).rssKiB / 1024));
  t.log(JSON.stringify(figures));
});
