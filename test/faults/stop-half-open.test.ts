/**
 * `systemctl stop` while the broker's link is half-open (a Wi-Fi drop, a NAT that forgot the connection: the sockets
 * stay open and nothing comes back, not even a reset). Whatever waits on the broker (an acknowledgement, an
 * unsubscribe) must not hold the agent past systemd's TimeoutStopSec (20 s), after which it would be SIGKILLed
 * without its own `offline`. Real parts: a real `fer-agent run` process with model updates on, a real Mosquitto, and a
 * TCP relay the test freezes.
 */
import net from 'node:net';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import sharp from 'sharp';
import { connect } from 'mqtt';
import { waitFor } from '../helpers/wait.js';
import { mosquittoAvailable, startMosquitto } from '../helpers/mosquitto.js';
import { FleetAgent } from '../fleet/support.js';
import { fixtureBundle, makeKey, tempDir } from '../models/support.js';

/** systemd's TimeoutStopSec in systemd/fer-agent.service. */
const SYSTEMD_STOP_S = 20;

/** A TCP relay that can be frozen: every byte is held from then on, and no socket is closed or reset. */
class FreezableRelay {
  private frozen = false;
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly server: net.Server) {}

  static async start(targetPort: number): Promise<FreezableRelay> {
    const server = net.createServer();
    const relay = new FreezableRelay(server);
    server.on('connection', (inbound) => {
      const outbound = net.connect(targetPort, '127.0.0.1');
      for (const [from, to] of [[inbound, outbound], [outbound, inbound]] as const) {
        relay.sockets.add(from);
        from.on('error', () => undefined);
        from.on('data', (d: Buffer) => {
          if (!relay.frozen) to.write(d);
        });
        // A frozen link carries no FIN either.
        from.on('end', () => {
          if (!relay.frozen) to.end();
        });
      }
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return relay;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  freeze(): void {
    this.frozen = true;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

if (!mosquittoAvailable()) {
  test('mosquitto is installed (apt-get install mosquitto)', (t) => t.fail('mosquitto not found: this test needs a real broker'));
} else {
  test('SIGTERM with the broker link half-open: the agent exits by itself within systemd\'s stop timeout', async (t) => {
    t.timeout(120_000);
    const broker = await startMosquitto();
    const relay = await FreezableRelay.start(Number(new URL(broker.url).port));
    const dir = tempDir('fer-half-open-');
    const cameraDir = path.join(dir, 'camera');
    mkdirSync(cameraDir);
    await sharp({ create: { width: 320, height: 240, channels: 3, background: { r: 90, g: 90, b: 90 } } }).jpeg().toFile(path.join(cameraDir, 'empty.jpg'));
    const key = makeKey();
    const agent = new FleetAgent({ id: 'half-open', site: 'home', brokerUrl: relay.url, stateDir: path.join(dir, 'state'), baseModel: fixtureBundle(), trustedKey: key.pubFile, cameraDir, dir });
    writeFileSync(agent.configFile, JSON.stringify({ ...JSON.parse(readFileSync(agent.configFile, 'utf8')) as object, log_level: 'info' }));
    const watcher = connect(broker.url, { clientId: 'half-open-watch', reconnectPeriod: 200 });
    const seen = new Map<string, string>();
    watcher.on('message', (topic, payload) => seen.set(topic, payload.toString()));
    try {
      await watcher.subscribeAsync(['fer/half-open/availability', 'fer/half-open/model/status'], { qos: 1 });
      agent.start();
      // Both of its connections are up: events (availability) and model updates (the retained status).
      await waitFor('the agent online, with its model status', () => seen.get('fer/half-open/availability') === 'online' && seen.has('fer/half-open/model/status'), 60_000)
        .catch((err: unknown) => { throw new Error(`${String(err)}\n${agent.log}`); });
      const pid = agent.pid;
      t.teardown(() => {
        try {
          if (pid) process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      });
      relay.freeze();
      const started = Date.now();
      // Waited for up to twice systemd's timeout, so that a failure says how long it took (or that it never ended).
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([agent.stop('SIGTERM'), new Promise((r) => (timer = setTimeout(r, 2 * SYSTEMD_STOP_S * 1000)))]);
      clearTimeout(timer);
      const seconds = (Date.now() - started) / 1000;
      t.log(`stopped in ${seconds.toFixed(1)} s with the link frozen`);
      t.true(seconds < SYSTEMD_STOP_S, `the agent took ${seconds.toFixed(1)} s to stop; systemd kills it at ${SYSTEMD_STOP_S} s\n${agent.log}`);
      // By its parts' own bounds, not by run.ts's last-resort deadline.
      t.notRegex(agent.log, /stop did not finish/);
    } finally {
      await agent.stop('SIGKILL');
      await watcher.endAsync();
      await relay.close();
      await broker.stop();
    }
  });
}
