import test from 'ava';
import { silentLogger } from '../../agent/core/log.js';
import { notifyArgs, SdNotifier, watchdogIntervalMs } from '../../agent/health/sd-notify.js';
import { NotifySocket } from './helpers.js';

test('notify arguments: KEY=VALUE on one line; bad keys are refused', (t) => {
  t.deepEqual(notifyArgs({ READY: 1, STATUS: 'line one\nline two' }), ['READY=1', 'STATUS=line one line two']);
  t.throws(() => notifyArgs({ 'bad key': 'x' }), { message: /"bad key" is invalid/ });
});

test('watchdog interval follows sd_watchdog_enabled: WATCHDOG_USEC, and WATCHDOG_PID when set must be ours', (t) => {
  t.is(watchdogIntervalMs({ WATCHDOG_USEC: '30000000' }, 42), 30_000);
  t.is(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42), 30_000);
  t.is(watchdogIntervalMs({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' }, 42), null);
  t.is(watchdogIntervalMs({ WATCHDOG_USEC: '0' }, 42), null);
  t.is(watchdogIntervalMs({ WATCHDOG_USEC: 'soon' }, 42), null);
  t.is(watchdogIntervalMs({}, 42), null);
});

test('outside systemd every call is a quiet no-op', async (t) => {
  const n = new SdNotifier({ env: {}, command: '/nonexistent/systemd-notify' });
  t.false(n.enabled);
  t.is(n.watchdogMs, null);
  t.false(await n.ready('up'));
  t.false(await n.watchdog());
});

test('READY (with MAINPID), STATUS, WATCHDOG and STOPPING reach a real NOTIFY_SOCKET in order', async (t) => {
  const sock = await NotifySocket.start();
  t.teardown(() => sock.stop());
  const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: sock.path, WATCHDOG_USEC: '2000000', WATCHDOG_PID: '4242' };
  const n = new SdNotifier({ env, pid: 4242, unsetEnvironment: true, logger: silentLogger });
  t.is(n.watchdogMs, 2000);
  t.deepEqual(env, {}, 'NOTIFY_SOCKET and WATCHDOG_* are removed so spawned camera processes cannot notify');
  const sent = await Promise.all([n.ready('loading done'), n.status('3 cameras'), n.watchdog(), n.stopping()]);
  t.deepEqual(sent, [true, true, true, true]);
  t.true(await sock.waitFor(() => sock.messages.length >= 4, 5000));
  t.deepEqual(
    sock.messages.map((m) => m.fields),
    [{ MAINPID: '4242', READY: '1', STATUS: 'loading done' }, { STATUS: '3 cameras' }, { WATCHDOG: '1' }, { STOPPING: '1' }],
  );
});

test('a missing systemd-notify disables the notifier after the first failure instead of failing the agent', async (t) => {
  const sock = await NotifySocket.start();
  t.teardown(() => sock.stop());
  const n = new SdNotifier({ env: { NOTIFY_SOCKET: sock.path }, command: '/nonexistent/systemd-notify', logger: silentLogger });
  t.true(n.enabled);
  t.false(await n.ready());
  t.false(n.enabled);
  t.false(await n.watchdog());
});
