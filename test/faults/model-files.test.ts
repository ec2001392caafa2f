/**
 * The model's files are deleted or corrupted on disk while the agent runs: the loaded model keeps serving frames
 * with the same outputs, and a reload (the hot-swap path, Agent.activateModel) fails with a reason naming the file,
 * leaving the running model in place. Covers the classifier on onnxruntime and on tfjs-wasm, and CenterFace.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { loadConfig } from '../../agent/config/load.js';
import { FerError } from '../../agent/core/errors.js';
import { silentLogger } from '../../agent/core/log.js';
import { bundledModelDir, centerfaceModelPath } from '../../agent/core/paths.js';
import type { Frame } from '../../agent/core/types.js';
import { Agent } from '../../agent/pipeline/agent.js';
import { decodeFrame } from '../../agent/sources/decode.js';
import { createCenterFaceDetector } from '../../agent/vision/centerface-detector.js';
import { copyDir, faceJpeg, tmpDir, waitFor } from './support.js';

interface Rig {
  agent: Agent;
  bundle: string;
  /** First probabilities seen per demo file (seq % 4), and how many later results disagreed with them. */
  mismatches: () => number;
  frames: () => number;
}

async function startAgent(t: ExecutionContext, engine: 'onnxruntime' | 'tfjs-wasm'): Promise<Rig> {
  const dir = tmpDir(t);
  const bundle = copyDir(bundledModelDir, path.join(dir, 'bundle'));
  const frames = path.join(dir, 'frames');
  mkdirSync(frames);
  for (let i = 0; i < 4; i++) writeFileSync(path.join(frames, `${i}.jpg`), faceJpeg(i));
  const cfg = loadConfig({
    skipDefaultFile: true,
    env: {},
    overrides: {
      engine,
      'detection.detector': 'centerface',
      // The same file must give the same box, hence the same outputs: a full search every frame (a follow-region
      // search boxes a face slightly differently, which this test would take for a changed model).
      'detection.follow_regions': false,
      'model.path': bundle,
      'mqtt.url': '',
      'sinks.stdout.enabled': false,
      cameras: [{ id: 'cam', source: { type: 'dir', path: frames, loop: true, interval_ms: 80 }, fps: 12 }],
    },
  });
  const agent = new Agent(cfg, silentLogger);
  await agent.start();
  const reference = new Map<number, Float32Array>();
  let mismatches = 0;
  agent.bus.on('result', (r) => {
    const probs = r.faces[0]?.emotion.probs;
    if (!probs) return;
    const ref = reference.get(r.seq % 4);
    if (!ref) reference.set(r.seq % 4, probs);
    else if (ref.some((p, i) => Math.abs(p - probs[i]!) > 1e-6)) mismatches++;
  });
  void agent.run();
  t.teardown(() => agent.stop());
  return { agent, bundle, mismatches: () => mismatches, frames: () => agent.pipelines[0]!.frames };
}

/** Rewrites a file listed in the manifest and the manifest's sha256/bytes for it, as a broken re-export would. */
function replaceListedFile(bundle: string, rel: string, data: Buffer): void {
  writeFileSync(path.join(bundle, rel), data);
  const mf = path.join(bundle, 'manifest.json');
  const m = JSON.parse(readFileSync(mf, 'utf8')) as { files: Record<string, { sha256: string; bytes: number }> };
  m.files[rel] = { sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length };
  writeFileSync(mf, JSON.stringify(m, null, 2));
}

async function framesGoOn(rig: Rig, n: number): Promise<void> {
  const target = rig.frames() + n;
  await waitFor(`${n} more frames`, () => rig.frames() >= target, 30_000);
}

for (const engine of ['onnxruntime', 'tfjs-wasm'] as const) {
  // On onnxruntime the agent runs the bundle's int8 model by default (model.precision auto): that is the file to break.
  const files = engine === 'onnxruntime' ? ['model.int8.onnx'] : ['tfjs/model.json', 'tfjs/group1-shard1of1.bin'];
  test(`${engine}: model files deleted and corrupted while running; the loaded model keeps serving`, async (t) => {
    t.timeout(90_000);
    const rig = await startAgent(t, engine);
    t.is(rig.agent.engine, engine);
    const sha = rig.agent.model.sha256;
    await framesGoOn(rig, 4);

    for (const f of files) unlinkSync(path.join(rig.bundle, f));
    await framesGoOn(rig, 5);
    const missing = await t.throwsAsync(rig.agent.activateModel(rig.bundle), { instanceOf: FerError });
    t.is((missing as FerError).reason, 'model_invalid');
    t.regex(missing!.message, new RegExp(`(${files.map((f) => f.replace(/\./g, '\\.')).join('|')}).*missing`));

    // Same size, other bytes: the manifest's sha256 catches it before any engine sees the file.
    const original = readFileSync(path.join(bundledModelDir, files[0]!));
    writeFileSync(path.join(rig.bundle, files[0]!), Buffer.alloc(original.length, 0x5a));
    for (const f of files.slice(1)) writeFileSync(path.join(rig.bundle, f), readFileSync(path.join(bundledModelDir, f)));
    const hash = await t.throwsAsync(rig.agent.activateModel(rig.bundle), { instanceOf: FerError });
    t.is((hash as FerError).reason, 'model_hash_mismatch');
    t.true(hash!.message.includes(files[0]!), hash!.message);

    // Broken file with a manifest that matches it: the engine refuses it and says which file.
    replaceListedFile(rig.bundle, files[0]!, Buffer.from(engine === 'onnxruntime' ? 'not an onnx graph' : '{"modelTopology": 42'));
    const load = await t.throwsAsync(rig.agent.activateModel(rig.bundle), { instanceOf: FerError });
    t.is((load as FerError).reason, 'model_invalid');
    t.regex(load!.message, engine === 'onnxruntime' ? /model\.int8\.onnx does not load on onnxruntime/ : /model\.json does not load as a TF\.js LayersModel/);

    await framesGoOn(rig, 5);
    t.is(rig.agent.pipelines[0]!.errors, 0, 'no frame failed');
    t.is(rig.mismatches(), 0, 'the running model gives the same outputs as before the files went');
    t.is(rig.agent.model.sha256, sha, 'the active model did not change');
  });
}

test('CenterFace: its file deleted while running; the session keeps detecting, a reload names the file', async (t) => {
  const dir = tmpDir(t);
  const copy = path.join(dir, 'centerface.onnx');
  writeFileSync(copy, readFileSync(centerfaceModelPath));
  const detection = { detector: 'centerface' as const, precision: 'fp32' as const, idle_gating: false, idle_interval_ms: 2000, max_frame_width: 0, follow_regions: false, full_interval_ms: 500, region_input: 128, roll_align: false, roll_align_min_deg: 10, input_width: 320, input_height: 256, min_face_px: 24, score_threshold: 0.5, faceapi_score_threshold: 0.5, nms_iou: 0.4, max_faces: 8 };
  const det = await createCenterFaceDetector({ detection, threads: 1, modelPath: copy });
  t.teardown(() => det.dispose());
  const frame: Frame = await decodeFrame('cam', { seq: 0, monoMs: 0, wallMs: 0, bytes: faceJpeg(0) });
  const before = await det.detect(frame);
  t.is(before.length, 1);
  unlinkSync(copy);
  const after = await det.detect(frame);
  t.deepEqual(after, before);
  const err = await t.throwsAsync(createCenterFaceDetector({ detection, threads: 1, modelPath: copy }), { instanceOf: FerError });
  t.is((err as FerError).reason, 'model_invalid');
  t.true(err!.message.includes(copy), err!.message);
});
