/**
 * Which ffmpeg output is cheaper end to end: MJPEG on stdout + sharp decode in node, or rawvideo rgb24 at a fixed
 * size? Counts CPU time (ffmpeg child + this process), not wall time, so a busy machine does not skew it much.
 * Run: npx tsc -p tsconfig.json && node dist/test/sources/ffmpeg-output.bench.js
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeFrame } from '../../agent/sources/decode.js';
import { MjpegSplitter } from '../../agent/sources/mjpeg-splitter.js';

/** CPU seconds of waited-for children (cutime + cstime from /proc/self/stat). */
function childCpuS(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[13]) + Number(fields[14]);
  return ticks / 100;
}

async function run(input: string, mode: 'mjpeg' | 'raw', w: number, h: number, outFps: number | undefined, decodeEvery: number): Promise<{ frames: number; cpuS: number }> {
  const vf = [outFps ? `fps=${outFps}` : '', `scale=${w}:${h}`].filter(Boolean).join(',');
  const out = mode === 'mjpeg' ? ['-f', 'mjpeg', '-q:v', '3', 'pipe:1'] : ['-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'];
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-threads', '1', '-i', input, '-an', '-vf', vf, ...out];
  const c0 = childCpuS();
  const u0 = process.cpuUsage();
  const child = spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let frames = 0;
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  if (mode === 'mjpeg') {
    const sp = new MjpegSplitter();
    for await (const chunk of child.stdout) {
      for (const bytes of sp.push(chunk as Buffer)) {
        if (frames++ % decodeEvery === 0) await decodeFrame('bench', { seq: frames, monoMs: 0, wallMs: 0, bytes });
      }
    }
  } else {
    const size = w * h * 3;
    let pending: Buffer[] = [];
    let have = 0;
    for await (const chunk of child.stdout) {
      pending.push(chunk as Buffer);
      have += (chunk as Buffer).length;
      while (have >= size) {
        const all = Buffer.concat(pending);
        const frame = Uint8Array.prototype.slice.call(all, 0, size);
        pending = [all.subarray(size)];
        have -= size;
        if (frame.length === size) frames++;
      }
    }
  }
  await exited;
  const u = process.cpuUsage(u0);
  return { frames, cpuS: childCpuS() - c0 + (u.user + u.system) / 1e6 };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-bench-'));
  try {
    for (const [w, h] of [[640, 480], [1280, 720]] as const) {
      const input = path.join(dir, `in-${w}.mp4`);
      spawnSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc=size=${w}x${h}:rate=30:duration=10`, '-pix_fmt', 'yuv420p', input], { stdio: 'inherit' });
      for (const [label, ow, oh, fps, every] of [
        ['all frames, full size', w, h, undefined, 1],
        ['all frames, 640 wide', 640, Math.round((640 * h) / w / 2) * 2, undefined, 1],
        ['fps=5 filter, full size', w, h, 5, 1],
        ['30 fps out, consumer takes 1 in 6', w, h, undefined, 6],
      ] as const) {
        for (const mode of ['mjpeg', 'raw'] as const) {
          const r = await run(input, mode, ow, oh, fps, every);
          console.log(`${w}x${h} ${label.padEnd(34)} ${mode.padEnd(5)} frames=${r.frames} cpu=${r.cpuS.toFixed(2)}s (${((r.cpuS / r.frames) * 1000).toFixed(1)} ms/frame)`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
