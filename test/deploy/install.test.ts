/**
 * deploy/install.sh in a real Debian Bookworm root (debootstrap, cached), run with chroot: files, user and groups,
 * config, unit enabled and verified; a second run changes nothing; --uninstall keeps the config; --purge leaves
 * the root as it was. Node.js: Debian's own nodejs 18 must be refused; the host's Node 20+ copied to /usr/local
 * (like the nodejs.org tarball) is what the install uses.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { testRequiring } from '../helpers/requires.js';
import { cannotRun, ensureRootTarball, REPO, ROOT_TARBALL, unpackRoot, type Chroot } from './bookworm-root.js';
import { diff, manifest, type Manifest } from './manifest.js';

const reason = cannotRun();
const t0 = performance.now();
let root: Chroot | undefined;
let before: Manifest;
let installed: Manifest;

/** A USB webcam as sysfs shows it: a capture node (index 0) and a metadata node (index 1) bound to uvcvideo. */
function fakeUsbWebcam(dir: string): void {
  const sys = path.join(dir, 'sys');
  mkdirSync(path.join(sys, 'bus/usb/drivers/uvcvideo'), { recursive: true });
  for (const [node, index] of [
    ['video0', '0'],
    ['video1', '1'],
  ]) {
    const d = path.join(sys, 'class/video4linux', node);
    mkdirSync(path.join(d, 'device'), { recursive: true });
    writeFileSync(path.join(d, 'name'), 'HD Webcam\n');
    writeFileSync(path.join(d, 'index'), index + '\n');
    symlinkSync('../../../../bus/usb/drivers/uvcvideo', path.join(d, 'device/driver'));
  }
}

const passwd = (dir: string): string[] => readFileSync(path.join(dir, 'etc/passwd'), 'utf8').split('\n');
const groupLine = (dir: string, name: string): string | undefined => readFileSync(path.join(dir, 'etc/group'), 'utf8').split('\n').find((l) => l.startsWith(name + ':'));
const install = (args: string[] = [], pathEnv?: string) => root!.exec(['/src/deploy/install.sh', ...args], { path: pathEnv });

if (reason) {
  // .ci/run runs as root with debootstrap installed: under CI a skip would hide a broken installer.
  testRequiring(reason, 'deploy/install.sh in a Debian Bookworm chroot', (t) => t.fail('not reached'));
} else {
  test.before(async (t) => {
    t.timeout(25 * 60_000);
    const built = await ensureRootTarball((s) => t.log(s));
    t.log(built > 0 ? `built and cached the root in ${(built / 1000).toFixed(0)} s` : `using the cached root ${ROOT_TARBALL}`);
    root = await unpackRoot();
    fakeUsbWebcam(root.dir);
    before = manifest(root.dir);
  });

  test.after.always(() => {
    root?.remove();
  });

  test.serial("Debian's nodejs 18 is refused with instructions, and nothing is touched", async (t) => {
    const r = await install([], '/usr/sbin:/usr/bin:/sbin:/bin');
    t.is(r.code, 69, r.stderr);
    t.regex(r.stderr, /Node\.js v18\.\d+\.\d+ at \/usr\/bin\/node(js)? is too old: fer-agent needs 20 or newer/);
    t.regex(r.stderr, /deb\.nodesource\.com/);
    t.regex(r.stderr, /nodejs\.org/);
    t.deepEqual(diff(before, manifest(root!.dir), true), { added: [], removed: [], changed: [] });
  });

  test.serial('install: program, user in video, config for the detected webcam, credentials, state, unit enabled', async (t) => {
    t.timeout(20 * 60_000);
    const started = performance.now();
    const r = await install();
    t.log(`first install took ${((performance.now() - started) / 1000).toFixed(0)} s`);
    t.is(r.code, 0, r.stdout + r.stderr);
    t.regex(r.stderr, /camera detected: usb-webcam at \/dev\/video0/);
    const d = root!.dir;
    const at = (p: string): string => path.join(d, p);

    // The program: built, production dependencies only, only this machine's onnxruntime binary.
    t.true(existsSync(at('opt/fer-agent/dist/agent/cli/main.js')));
    t.true(existsSync(at('opt/fer-agent/node_modules/onnxruntime-node/package.json')));
    t.false(existsSync(at('opt/fer-agent/node_modules/typescript')), 'dev dependencies are pruned');
    t.false(existsSync(at('opt/fer-agent/node_modules/ava')));
    t.false(existsSync(at('opt/fer-agent/dist/test')));
    const ortBin = at('opt/fer-agent/node_modules/onnxruntime-node/bin');
    const platforms = readdirSync(ortBin).flatMap((napi) => readdirSync(path.join(ortBin, napi)).flatMap((os) => readdirSync(path.join(ortBin, napi, os)).map((cpu) => `${os}/${cpu}`)));
    t.deepEqual(platforms, [`linux/${process.arch}`]);
    t.is(readFileSync(at('opt/fer-agent/bin/fer-agent'), 'utf8').split('\n').at(-2), 'exec /usr/local/bin/node /opt/fer-agent/dist/agent/cli/main.js "$@"');
    t.is(readlinkSync(at('usr/local/bin/fer-agent')), '/opt/fer-agent/bin/fer-agent');
    const prog = statSync(at('opt/fer-agent/dist/agent/cli/main.js'));
    t.deepEqual([prog.uid, prog.mode & 0o022], [0, 0], 'the program is root-owned and not writable by the service');

    // The user: a system account without login, in its own group and in video.
    const user = passwd(d).find((l) => l.startsWith('fer-agent:'))!.split(':');
    t.true(Number(user[2]) < 1000, 'system uid');
    t.deepEqual([user[5], user[6]], ['/var/lib/fer-agent', '/usr/sbin/nologin']);
    const gid = Number(groupLine(d, 'fer-agent')!.split(':')[2]);
    t.is(Number(user[3]), gid);
    t.true(groupLine(d, 'video')!.split(':')[3].split(',').includes('fer-agent'));

    // The config: the USB webcam example with the detected device, the state dir and the health port.
    const conf = statSync(at('etc/fer-agent/config.json'));
    t.deepEqual([conf.mode & 0o777, conf.uid, conf.gid], [0o640, 0, gid]);
    const cfg = JSON.parse(readFileSync(at('etc/fer-agent/config.json'), 'utf8')) as {
      cameras: Array<{ source: { type: string; path: string } }>;
      model: { state_dir: string };
      health: { host: string; port: number };
    };
    t.deepEqual(cfg.cameras[0].source.type, 'ffmpeg');
    t.is(cfg.cameras[0].source.path, '/dev/video0');
    t.is(cfg.model.state_dir, '/var/lib/fer-agent/models');
    t.deepEqual(cfg.health, { host: '127.0.0.1', port: 9464 });
    for (const c of ['mqtt_password', 'ha_token']) {
      const s = statSync(at(`etc/fer-agent/credentials/${c}`));
      t.deepEqual([s.mode & 0o777, s.uid, s.size], [0o600, 0, 0]);
    }
    t.is(statSync(at('etc/fer-agent/credentials')).mode & 0o777, 0o700);
    const state = statSync(at('var/lib/fer-agent/models'));
    t.deepEqual([state.mode & 0o777, state.uid], [0o750, Number(user[2])]);

    // The unit: installed as shipped, enabled, and clean for systemd-analyze verify in this root.
    t.is(readFileSync(at('etc/systemd/system/fer-agent.service'), 'utf8'), readFileSync(path.join(REPO, 'systemd/fer-agent.service'), 'utf8'));
    t.is(readlinkSync(at('etc/systemd/system/multi-user.target.wants/fer-agent.service')), '/etc/systemd/system/fer-agent.service');
    const enabled = await root!.exec(['systemctl', '--root=/', 'is-enabled', 'fer-agent.service']);
    t.is(enabled.stdout.trim(), 'enabled');
    const verify = await root!.exec(['systemd-analyze', 'verify', '/etc/systemd/system/fer-agent.service']);
    t.deepEqual([verify.code, verify.stdout + verify.stderr], [0, ''], 'systemd-analyze verify is clean');
    const sec = await root!.exec(['systemd-analyze', 'security', '--offline=true', '--no-pager', '/etc/systemd/system/fer-agent.service']);
    const level = /Overall exposure level for fer-agent\.service: (\d+\.\d+)/.exec(sec.stdout + sec.stderr);
    t.truthy(level, sec.stdout + sec.stderr);
    t.log(`systemd-analyze security exposure: ${level?.[1]}`);
    t.true(Number(level?.[1]) <= 2.0, `exposure ${level?.[1]} should stay low`);

    // The service user can run the installed agent with the installed config.
    const asUser = await root!.exec(['runuser', '-u', 'fer-agent', '--', '/usr/local/bin/fer-agent', 'config', '--config', '/etc/fer-agent/config.json']);
    t.is(asUser.code, 0, asUser.stdout + asUser.stderr);
    t.regex(asUser.stdout, /\/dev\/video0/);
    installed = manifest(d);
  });

  test.serial('a second run changes nothing', async (t) => {
    const r = await install();
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, /program in \/opt\/fer-agent is up to date/);
    t.deepEqual(diff(installed, manifest(root!.dir), true), { added: [], removed: [], changed: [] });
  });

  test.serial('an edited config is never overwritten', async (t) => {
    const conf = path.join(root!.dir, 'etc/fer-agent/config.json');
    const edited = readFileSync(conf, 'utf8').replace('"fps": 5', '"fps": 2');
    t.not(edited, readFileSync(conf, 'utf8'));
    writeFileSync(conf, edited);
    const r = await install(['--camera', 'demo']);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, /kept your edited \/etc\/fer-agent\/config\.json/);
    t.is(readFileSync(conf, 'utf8'), edited);
  });

  test.serial('--uninstall removes what it added and keeps config, credentials, state and the user', async (t) => {
    const r = await install(['--uninstall']);
    t.is(r.code, 0, r.stderr);
    const d = diff(before, manifest(root!.dir), false);
    const kept = (p: string): boolean => p.startsWith('/etc/fer-agent') || p.startsWith('/var/lib/fer-agent');
    t.deepEqual(d.removed, []);
    t.deepEqual(d.added.filter((p) => !kept(p)), [], 'only config and state remain');
    t.true(d.added.includes('/etc/fer-agent/config.json'));
    t.deepEqual(d.changed.filter((p) => !/^\/etc\/(passwd|group|shadow|gshadow)-?$/.test(p)), [], 'besides the kept user, nothing else changed');
    t.true(readFileSync(path.join(root!.dir, 'etc/fer-agent/config.json'), 'utf8').includes('"fps": 2'));
  });

  test.serial('--uninstall --purge leaves the root as it was before the install', async (t) => {
    const r = await install(['--uninstall', '--purge']);
    t.is(r.code, 0, r.stderr);
    const d = diff(before, manifest(root!.dir), false);
    // useradd/userdel keep one backup of each account file (/etc/passwd- ...): the files themselves are back as they were.
    t.deepEqual({ ...d, changed: d.changed.filter((p) => !/^\/etc\/(passwd|group|shadow|gshadow)-$/.test(p)) }, { added: [], removed: [], changed: [] });
  });

  test.serial('first boot: firstrun.sh queues a one-shot unit that installs with the given broker and disables itself', async (t) => {
    t.timeout(20 * 60_000);
    const d = root!.dir;
    const at = (p: string): string => path.join(d, p);
    const settings = ['FER_SOURCE=/src', 'FER_CAMERA=demo', 'FER_MQTT_URL=mqtt://broker.lan:1883', 'FER_MQTT_USERNAME=fer', 'FER_MQTT_PASSWORD=s3cret pass'];
    const first = await root!.exec(['env', ...settings, 'bash', '/src/deploy/firstboot/firstrun.sh']);
    t.is(first.code, 0, first.stderr);
    t.is((await root!.exec(['systemctl', '--root=/', 'is-enabled', 'fer-agent-firstboot.service'])).stdout.trim(), 'enabled');
    const verify = await root!.exec(['systemd-analyze', 'verify', '/etc/systemd/system/fer-agent-firstboot.service']);
    t.deepEqual([verify.code, verify.stdout + verify.stderr], [0, '']);
    t.is(statSync(at('usr/local/lib/fer-agent-firstboot/settings.env')).mode & 0o777, 0o600, 'settings may hold a password');
    t.false(existsSync(at('opt/fer-agent')), 'nothing is installed before the network is up');

    // What the unit runs once the network is online:
    const run = await root!.exec(['/usr/local/lib/fer-agent-firstboot/run.sh']);
    t.is(run.code, 0, run.stdout + run.stderr);
    const cfg = JSON.parse(readFileSync(at('etc/fer-agent/config.json'), 'utf8')) as { cameras: Array<{ id: string }>; mqtt: { url: string; username: string } };
    t.is(cfg.cameras[0].id, 'demo');
    t.deepEqual([cfg.mqtt.url, cfg.mqtt.username], ['mqtt://broker.lan:1883', 'fer']);
    t.is(readFileSync(at('etc/fer-agent/credentials/mqtt_password'), 'utf8'), 's3cret pass');
    t.is(statSync(at('etc/fer-agent/credentials/mqtt_password')).mode & 0o777, 0o600);
    t.is((await root!.exec(['systemctl', '--root=/', 'is-enabled', 'fer-agent.service'])).stdout.trim(), 'enabled');
    t.not((await root!.exec(['systemctl', '--root=/', 'is-enabled', 'fer-agent-firstboot.service'])).stdout.trim(), 'enabled', 'it disabled itself');
    t.false(existsSync(at('usr/local/lib/fer-agent-firstboot/settings.env')), 'the settings (and password) are gone');
    t.true(existsSync(at('var/lib/fer-agent/.firstboot-done')));

    const purge = await install(['--uninstall', '--purge']);
    t.is(purge.code, 0, purge.stderr);
    const left = diff(before, manifest(d), false);
    t.deepEqual({ ...left, changed: left.changed.filter((p) => !/^\/etc\/(passwd|group|shadow|gshadow)-$/.test(p)) }, { added: [], removed: [], changed: [] });
    t.log(`whole chroot test took ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  });
}
