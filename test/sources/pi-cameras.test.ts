/**
 * rpicam-vid and raspistill exist only on a Raspberry Pi, so this file puts stand-ins on PATH: shell scripts that
 * record their arguments and run real ffmpeg to write an MJPEG stream to stdout, as the Pi programs do. What is
 * tested is real: argument passing, node-raspistill, the splitting of its buffers, decode and the feed.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { silentLogger } from '../../agent/core/log.js';
import { CameraFeed } from '../../agent/sources/camera-feed.js';
import { createSource } from '../../agent/sources/source.js';
import { haveFfmpeg, tmpDir, waitFor } from './helpers.js';

test.before(() => {
  if (!haveFfmpeg()) throw new Error('these tests need ffmpeg on PATH (apt-get install -y ffmpeg)');
});

function standIn(t: Parameters<typeof tmpDir>[0], name: string): { argsFile: string } {
  const dir = tmpDir(t);
  const ffmpeg = execFileSync('sh', ['-c', 'command -v ffmpeg'], { encoding: 'utf8' }).trim();
  const argsFile = path.join(dir, 'args.txt');
  const script = path.join(dir, name);
  writeFileSync(
    script,
    `#!/bin/sh\necho "$@" > '${argsFile}'\nexec '${ffmpeg}' -hide_banner -loglevel error -re -f lavfi -i testsrc=size=64x48:rate=20 -f mjpeg -q:v 3 pipe:1\n`,
  );
  chmodSync(script, 0o755);
  // Only this file's process sees the change (ava runs each test file in its own process).
  process.env.PATH = `${dir}${path.delimiter}${process.env.PATH ?? ''}`;
  return { argsFile };
}

test.serial('rpicam source: runs rpicam-vid with size and rate, frames decode', async (t) => {
  const { argsFile } = standIn(t, 'rpicam-vid');
  const feed = new CameraFeed({ cameraId: 'pi', source: createSource('pi', { type: 'rpicam', width: 64, height: 48 }, silentLogger, { fps: 10 }), fps: 100, log: silentLogger });
  t.teardown(() => feed.stop());
  for (let i = 0; i < 4; i++) t.like(await feed.next(), { width: 64, height: 48, channels: 3 });
  t.is(readFileSync(argsFile, 'utf8').trim(), '-t 0 --codec mjpeg --nopreview -o - --width 64 --height 48 --framerate 10');
  t.is(feed.stats().corrupt, 0);
});

test.serial('raspistill source: node-raspistill timelapse to stdout, re-split into whole JPEGs', async (t) => {
  const { argsFile } = standIn(t, 'raspistill');
  const feed = new CameraFeed({ cameraId: 'pi', source: createSource('pi', { type: 'raspistill', width: 64, height: 48, interval_ms: 200 }, silentLogger), fps: 100, log: silentLogger });
  t.teardown(() => feed.stop());
  for (let i = 0; i < 4; i++) t.like(await feed.next(), { width: 64, height: 48, channels: 3 });
  const args = readFileSync(argsFile, 'utf8').trim().split(' ');
  t.deepEqual([args[args.indexOf('-w') + 1], args[args.indexOf('-h') + 1], args[args.indexOf('-tl') + 1], args[args.indexOf('-t') + 1], args[args.indexOf('-o') + 1]], ['64', '48', '200', '0', '-']);
  t.is(feed.stats().corrupt, 0);
  // Stopping the feed stops raspistill.
  await feed.stop();
  await waitFor('stopped', () => feed.stats().state === 'stopped');
});
