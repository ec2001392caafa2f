/**
 * install.sh's board and camera detection, run for real (`install.sh --detect-camera --root DIR`) against folders
 * laid out like the sysfs of a Raspberry Pi 4 / 5, a Jetson and a PC, as their kernels present them.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { REPO } from './bookworm-root.js';

interface Node {
  node: string;
  driver: string;
  index?: number;
}

interface Machine {
  model?: string;
  tegraRelease?: boolean;
  v4l2?: Node[];
  /** I2C sensor drivers with a bound device, e.g. imx708 → 10-001a. */
  sensors?: Record<string, string>;
}

function sysfs(m: Machine): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-sysfs-'));
  const sys = path.join(dir, 'sys');
  if (m.model) {
    mkdirSync(path.join(sys, 'firmware/devicetree/base'), { recursive: true });
    writeFileSync(path.join(sys, 'firmware/devicetree/base/model'), m.model + '\0');
  }
  if (m.tegraRelease) {
    mkdirSync(path.join(dir, 'etc'), { recursive: true });
    writeFileSync(path.join(dir, 'etc/nv_tegra_release'), '# R35 (release), REVISION: 4.1\n');
  }
  for (const n of m.v4l2 ?? []) {
    const drv = path.join(sys, 'bus/platform/drivers', n.driver);
    mkdirSync(drv, { recursive: true });
    const d = path.join(sys, 'class/video4linux', n.node);
    mkdirSync(path.join(d, 'device'), { recursive: true });
    writeFileSync(path.join(d, 'index'), `${n.index ?? 0}\n`);
    symlinkSync(drv, path.join(d, 'device/driver'));
  }
  for (const [driver, dev] of Object.entries(m.sensors ?? {})) mkdirSync(path.join(sys, 'bus/i2c/drivers', driver, dev), { recursive: true });
  return dir;
}

function detect(m: Machine): { board: string; camera: string } {
  const dir = sysfs(m);
  try {
    const out = execFileSync(path.join(REPO, 'deploy/install.sh'), ['--detect-camera', '--root', dir], { encoding: 'utf8' });
    const get = (k: string): string => new RegExp(`^${k}: (.*)$`, 'm').exec(out)?.[1] ?? '';
    return { board: get('board'), camera: get('camera') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const PI4 = 'Raspberry Pi 4 Model B Rev 1.4';
const PI5 = 'Raspberry Pi 5 Model B Rev 1.0';
const PI_CODECS: Node[] = [
  { node: 'video10', driver: 'bcm2835-codec' },
  { node: 'video11', driver: 'bcm2835-codec' },
  { node: 'video13', driver: 'bcm2835-isp' },
  { node: 'video19', driver: 'bcm2835-codec' },
];

test('Raspberry Pi 4 with a CSI camera on unicam: rpicam', (t) => {
  t.deepEqual(detect({ model: PI4, v4l2: [{ node: 'video0', driver: 'unicam' }, ...PI_CODECS] }), { board: 'raspberrypi', camera: 'pi-csi' });
});

test('Raspberry Pi 5 with a camera module 3 (imx708 on I2C, rp1-cfe nodes): rpicam', (t) => {
  t.deepEqual(detect({ model: PI5, sensors: { imx708: '6-001a' }, v4l2: [{ node: 'video0', driver: 'rp1-cfe' }] }), { board: 'raspberrypi', camera: 'pi-csi' });
  t.deepEqual(detect({ model: PI5, sensors: { imx708: '6-001a' } }), { board: 'raspberrypi', camera: 'pi-csi' }, 'a bound sensor is enough');
  t.deepEqual(detect({ model: PI5, sensors: { imx708: '' } }), { board: 'raspberrypi', camera: 'demo' }, 'a loaded sensor driver with no device is no camera');
});

test('Raspberry Pi with only a USB webcam: its capture node, not the metadata node or the codecs', (t) => {
  const v4l2 = [...PI_CODECS, { node: 'video0', driver: 'uvcvideo', index: 0 }, { node: 'video1', driver: 'uvcvideo', index: 1 }];
  t.deepEqual(detect({ model: PI4, v4l2 }), { board: 'raspberrypi', camera: 'usb-webcam /dev/video0' });
});

test('Raspberry Pi with only the codec nodes: no camera, the demo', (t) => {
  t.deepEqual(detect({ model: PI4, v4l2: PI_CODECS }), { board: 'raspberrypi', camera: 'demo' });
});

test('Jetson: a Tegra capture node means a CSI sensor (nvarguscamerasrc); USB otherwise', (t) => {
  t.deepEqual(detect({ model: 'NVIDIA Jetson Orin Nano Developer Kit', v4l2: [{ node: 'video0', driver: 'tegra-camrtc-capture-vi' }] }), { board: 'jetson', camera: 'jetson-csi' });
  t.deepEqual(detect({ tegraRelease: true, v4l2: [{ node: 'video0', driver: 'uvcvideo' }] }), { board: 'jetson', camera: 'usb-webcam /dev/video0' });
});

test('a PC with two webcams: the first capture node', (t) => {
  const v4l2 = [
    { node: 'video2', driver: 'uvcvideo', index: 0 },
    { node: 'video3', driver: 'uvcvideo', index: 1 },
    { node: 'video10', driver: 'uvcvideo', index: 0 },
    { node: 'video11', driver: 'uvcvideo', index: 1 },
  ];
  t.deepEqual(detect({ model: undefined, v4l2 }), { board: 'other', camera: 'usb-webcam /dev/video2' });
  t.deepEqual(detect({}), { board: 'other', camera: 'demo' });
});
