import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { DiagnosticsModel, readCpuTemperature } from '../../agent/mqtt/diagnostics.js';
import { modelInfo, result } from './support.js';

const made: string[] = [];
test.after.always(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

function thermal(zones: Array<[string, string]>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-mqtt-thermal-'));
  made.push(dir);
  zones.forEach(([type, temp], i) => {
    mkdirSync(path.join(dir, `thermal_zone${i}`));
    writeFileSync(path.join(dir, `thermal_zone${i}`, 'type'), `${type}\n`);
    writeFileSync(path.join(dir, `thermal_zone${i}`, 'temp'), `${temp}\n`);
  });
  return dir;
}

test('CPU temperature: the cpu zone in °C; none where the board exposes none or nonsense', async (t) => {
  t.is(await readCpuTemperature(thermal([['acpitz', '30000'], ['cpu-thermal', '48312']])), 48.312);
  t.is(await readCpuTemperature(thermal([['soc_dts0', '51000']])), 51);
  t.is(await readCpuTemperature(thermal([['cpu-thermal', '-273000']])), null);
  t.is(await readCpuTemperature(path.join(os.tmpdir(), 'no-such-thermal-dir')), null);
});

test('fps, processing latency and frame age over the window, per camera and together; 0 fps for a camera with no frames', (t) => {
  const d = new DiagnosticsModel(['a', 'b'], 10_000);
  d.onModel(modelInfo(['x'], '2.0.0'));
  // 10 fps for 2 s; each frame waited 40 ms after capture and took 15 ms of work.
  for (let i = 0; i < 21; i++) {
    const r = result('a', i, 1000 + i * 100, []);
    d.onResult({ ...r, timings: { ...r.timings, waitMs: 40, processMs: 15, totalMs: 55 }, ...(i % 4 === 0 ? { detectorSkipped: true } : {}), ...(i % 4 === 1 ? { detectorRegions: 2 } : {}) });
  }
  const s = d.snapshot(3000, 0, { cpuTempC: 47.25, queued: 2, dropped: 3, uptimeS: 9.6 });
  t.like(s, { fps: 10, latency_ms: 15, frame_age_ms: 40, engine: 'onnxruntime', precision: 'int8', flip_tta: false, model_version: '2.0.0', cpu_temp_c: 47.3, events_queued: 2, events_dropped: 3, uptime_s: 10 });
  t.deepEqual(s.cameras, { a: { fps: 10, latency_ms: 15, frame_age_ms: 40, detector_skipped: 6, detector_regions: 5 }, b: { fps: 0, latency_ms: 0, frame_age_ms: 0, detector_skipped: 0, detector_regions: 0 } });
  // Error counters come from the sources' latest status: corrupt frames summed, failed sources counted now.
  d.onSource({ cameraId: 'a', state: 'running', framesDropped: 0, framesCorrupt: 2 });
  d.onSource({ cameraId: 'b', state: 'failed', reason: 'gone', framesDropped: 0, framesCorrupt: 1 });
  d.onSource({ cameraId: 'a', state: 'running', framesDropped: 0, framesCorrupt: 4 });
  t.like(d.snapshot(3000, 0, { cpuTempC: null, queued: 0, dropped: 0, uptimeS: 1 }), { frames_corrupt: 5, sources_failed: 1 });
  // Long after the last frame the window is empty.
  t.is(d.snapshot(60_000, 0, { cpuTempC: null, queued: 0, dropped: 0, uptimeS: 60 }).fps, 0);
});
