import test from 'ava';
import { Bus } from '../../agent/core/bus.js';
import { silentLogger } from '../../agent/core/log.js';
import { SdNotifier } from '../../agent/health/sd-notify.js';
import { startHealthService } from '../../agent/health/service.js';
import { ProgressMonitor, startWatchdog } from '../../agent/health/watchdog.js';
import { ManualClock, NotifySocket, result } from './helpers.js';

test('progress monitor: a camera without progress for longer than the bound has stalled; paused cameras and idle sources are exempt', (t) => {
  const clock = new ManualClock(0);
  const m = new ProgressMonitor(clock, 1000, ['a', 'b', 'c', 'd']);
  clock.advance(1000);
  t.true(m.check().ok, 'start-up grace: exactly the bound is not a stall');
  m.setPaused('b', true);
  m.sourceStatus('c', 'stopped');
  m.sourceStatus('d', 'failed');
  clock.advance(1500);
  t.deepEqual(m.check().stalled.map((x) => x.cameraId), ['a'], 'b is paused, c stopped, d reconnecting: only a counts');
  clock.advance(30_000);
  t.deepEqual(m.check().stalled.map((x) => x.cameraId), ['a'], 'a reconnecting source may back off for as long as it likes');
  m.setPaused('b', false);
  m.sourceStatus('c', 'running');
  m.sourceStatus('d', 'running');
  clock.advance(1001);
  t.deepEqual(m.check(), {
    ok: false,
    stalled: [
      { cameraId: 'a', idleMs: 33_501 },
      { cameraId: 'b', idleMs: 1001 },
      { cameraId: 'c', idleMs: 1001 },
      { cameraId: 'd', idleMs: 1001 },
    ],
  }, 'back to running: each must deliver within the bound again');
  for (const id of ['a', 'b', 'c', 'd']) m.progress(id);
  t.true(m.check().ok);
});

test('the bus drives the monitor: results and source reports are progress, pause events exempt a camera', (t) => {
  const clock = new ManualClock(0);
  const bus = new Bus();
  const m = new ProgressMonitor(clock, 1000, ['a', 'b']);
  const detach = m.attach(bus);
  clock.advance(900);
  bus.emit('result', result('a', 1));
  bus.emit('source', { cameraId: 'b', state: 'running', framesDropped: 0, framesCorrupt: 0 });
  clock.advance(900);
  t.true(m.check().ok);
  bus.emit('paused', { cameraId: 'b', paused: true });
  clock.advance(950);
  t.deepEqual(m.check().stalled.map((s) => s.cameraId), ['a']);
  detach();
  bus.emit('result', result('a', 2));
  t.false(m.check().ok, 'detached: bus messages no longer count');
});

test('watchdog ticks over a real NOTIFY_SOCKET: pings while all cameras progress, none while one stalls, again after it recovers', async (t) => {
  const sock = await NotifySocket.start();
  t.teardown(() => sock.stop());
  const clock = new ManualClock(0);
  const monitor = new ProgressMonitor(clock, 30_000, ['kitchen', 'hall']);
  const notifier = new SdNotifier({ env: { NOTIFY_SOCKET: sock.path, WATCHDOG_USEC: '30000000' }, logger: silentLogger });
  // The timer runs every 10 s of real time: never during this test, which drives tick() by hand.
  const wd = startWatchdog({ monitor, notifier, intervalMs: notifier.watchdogMs!, logger: silentLogger });
  t.teardown(() => wd.stop());

  for (let s = 0; s < 3; s++) {
    clock.advance(10_000);
    monitor.progress('kitchen');
    monitor.progress('hall');
    t.like(await wd.tick(), { ok: true, pinged: true });
  }
  // The hall camera's loop hangs; the kitchen keeps going.
  for (let s = 0; s < 5; s++) {
    clock.advance(s === 0 ? 10_001 : 10_000);
    monitor.progress('kitchen');
    const r = await wd.tick();
    t.is(r.pinged, s < 2, `tick ${s}: hall idle ${(s + 1) * 10} s, the bound is 30 s`);
  }
  monitor.progress('hall');
  t.like(await wd.tick(), { ok: true, pinged: true });
  t.true(await sock.waitFor(() => sock.messages.length >= 8, 5000));
  t.deepEqual(
    sock.messages.map((m) => m.fields.WATCHDOG ?? m.fields.STATUS),
    ['1', '1', '1', '1', '1', 'stalled: hall (30 s)', 'running', '1'],
  );
});

test('end to end with real timers: a stalled camera loop stops the pings, its recovery restarts them', async (t) => {
  const sock = await NotifySocket.start();
  t.teardown(() => sock.stop());
  const bus = new Bus();
  const notifier = new SdNotifier({ env: { NOTIFY_SOCKET: sock.path, WATCHDOG_USEC: '600000' }, logger: silentLogger });
  const health = await startHealthService({
    bus,
    cameras: [
      { id: 'kitchen', fps: 20 },
      { id: 'hall', fps: 20 },
    ],
    mqttConfigured: false,
    health: { host: '127.0.0.1', port: 0 },
    logger: silentLogger,
    notifier,
  });
  t.is(health.server, null, 'port 0 in the config means no endpoint');
  let hallRuns = true;
  let seq = 0;
  const loop = setInterval(() => {
    seq++;
    bus.emit('result', result('kitchen', seq));
    if (hallRuns) bus.emit('result', result('hall', seq));
  }, 50);
  t.teardown(() => clearInterval(loop));
  await health.ready('running');
  t.true(await sock.waitFor(() => sock.messages.some((m) => m.fields.READY === '1'), 5000));
  t.true(await sock.waitFor(() => sock.pings() >= 2, 10_000), 'pings while both loops run');

  hallRuns = false;
  t.true(await sock.waitFor(() => sock.messages.some((m) => m.fields.STATUS?.startsWith('stalled: hall')), 10_000), 'the stall is reported');
  // Counted in watchdog checks, not wall time: after the first withheld check no ping is on its way; six more
  // withheld checks (two watchdog intervals) must add none.
  const wd = health.watchdog!;
  t.true(await sock.waitFor(() => wd.withheld >= 1, 10_000));
  const pingsAtStall = sock.pings();
  const from = wd.withheld;
  t.true(await sock.waitFor(() => wd.withheld >= from + 6, 20_000), 'the watchdog kept checking');
  t.is(sock.pings(), pingsAtStall, 'no pings while the hall loop is stalled');

  hallRuns = true;
  t.true(await sock.waitFor(() => sock.pings() > pingsAtStall, 10_000), 'pings resume');
  await health.stop();
  t.true(await sock.waitFor(() => sock.messages.some((m) => m.fields.STOPPING === '1'), 5000));
});

test('a pause in force when the watchdog is armed (restored at start-up, before it listened) exempts that camera', async (t) => {
  // Issue 31 H1: with paused.json holding {"demo": true}, the pause was restored during start-up, announced on the
  // bus before the watchdog existed, and the watchdog then counted the paused camera as stalled: systemd killed the
  // agent every WatchdogSec.
  const sock = await NotifySocket.start();
  t.teardown(() => sock.stop());
  const bus = new Bus();
  const clock = new ManualClock(0);
  const paused = new Set(['hall']);
  const notifier = new SdNotifier({ env: { NOTIFY_SOCKET: sock.path, WATCHDOG_USEC: '30000000' }, logger: silentLogger });
  bus.emit('paused', { cameraId: 'hall', paused: true }); // before the watchdog exists: nobody hears it
  const health = await startHealthService({
    bus,
    cameras: [
      { id: 'kitchen', fps: 5 },
      { id: 'hall', fps: 5 },
    ],
    mqttConfigured: false,
    health: { host: '127.0.0.1', port: 0 },
    logger: silentLogger,
    notifier,
    clock,
    isPaused: (id) => paused.has(id),
  });
  t.teardown(() => health.stop());
  await health.ready('running');
  const wd = health.watchdog!;
  for (let s = 1; s <= 120; s++) {
    clock.advance(1000);
    bus.emit('result', result('kitchen', s));
  }
  t.like(await wd.tick(), { ok: true, pinged: true }, 'two minutes in, the paused hall camera has not stalled the watchdog');
  // Resumed: its clock restarts and it must deliver frames again.
  paused.delete('hall');
  bus.emit('paused', { cameraId: 'hall', paused: false });
  clock.advance(31_000);
  bus.emit('result', result('kitchen', 121));
  t.like(await wd.tick(), { ok: false, pinged: false, stalled: [{ cameraId: 'hall', idleMs: 31_000 }] });
});
