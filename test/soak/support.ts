/**
 * Shared by the soak tests: the demo frames as JPEG bytes with the faces each holds, a camera clock that steps
 * like a 3 fps source (so tracks end in the empty stretch and face_lost fires every pass), an agent-shaped
 * pipeline on a chosen engine and detector, and memory sampling with a forced GC.
 *
 * Length: the normal suite runs a short soak; `npm run test:soak` (FER_SOAK=1) runs the long one.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import sharp from 'sharp';
import { loadConfig, resolveCameras } from '../../agent/config/load.js';
import type { DetectorName, EngineName } from '../../agent/config/schema.js';
import type { DetectionConfig } from '../../agent/config/types.js';
import { Bus } from '../../agent/core/bus.js';
import type { Clock } from '../../agent/core/clock.js';
import { silentLogger } from '../../agent/core/log.js';
import { sampleFramesDir } from '../../agent/core/paths.js';
import type { EmotionEvent } from '../../agent/core/types.js';
import { CameraPipeline } from '../../agent/pipeline/camera-pipeline.js';
import { setupClassifier } from '../../agent/pipeline/classifier-setup.js';
import { ModelSlot } from '../../agent/pipeline/model-slot.js';
import { createDetector } from '../../agent/vision/create-detector.js';
import type { FaceDetector } from '../../agent/vision/face-detector.js';

export const LONG = process.env.FER_SOAK === '1';

/** Frames for this run: FER_SOAK_FRAMES overrides the default for the mode. */
export function frameCount(short: number, long: number): number {
  const env = Number(process.env.FER_SOAK_FRAMES);
  return Number.isInteger(env) && env > 0 ? env : LONG ? long : short;
}

export interface SampleJpeg {
  bytes: Buffer;
  /** Faces in it (agent/assets/samples/README.md: 0001-0012 and 0021-0032 one face, 0013-0020 none). */
  faces: number;
}

export function sampleJpegs(): SampleJpeg[] {
  return readdirSync(sampleFramesDir)
    .filter((n) => n.endsWith('.jpg'))
    .sort()
    .map((n, i) => ({ bytes: readFileSync(path.join(sampleFramesDir, n)), faces: i < 12 || i >= 20 ? 1 : 0 }));
}

/**
 * The demo frames with every face frame turned by ±`degrees` in turn (sharp turns clockwise for positive angles) and
 * cut back to its own size about the centre, so that the levelled-crop path (detection.roll_align) runs on them.
 */
export async function tiltedJpegs(degrees: number): Promise<SampleJpeg[]> {
  return Promise.all(
    sampleJpegs().map(async (j, i) => {
      if (j.faces === 0) return j;
      const img = sharp(j.bytes);
      const { width, height } = await img.metadata();
      if (!width || !height) throw new Error(`demo frame ${i}: no size`);
      const turned = await img.rotate(i % 2 ? -degrees : degrees, { background: { r: 128, g: 128, b: 128 } }).toBuffer({ resolveWithObject: true });
      const left = Math.floor((turned.info.width - width) / 2);
      const top = Math.floor((turned.info.height - height) / 2);
      const bytes = await sharp(turned.data).extract({ left, top, width, height }).jpeg({ quality: 80 }).toBuffer();
      return { bytes, faces: j.faces };
    }),
  );
}

export interface SoakPipeline {
  pipeline: CameraPipeline;
  detector: FaceDetector;
  engine: string;
  events: EmotionEvent[];
  /** The pipeline's bus (to listen for frames as the live view does). */
  bus: Bus;
  /** The camera's detection settings the pipeline runs with. */
  detection: DetectionConfig;
  dispose(): Promise<void>;
}

/** The agent's per-camera pipeline, built the way Agent.start builds it, on the given engine and detector. */
export async function soakPipeline(engine: EngineName, detector: DetectorName, clock: Clock, extra: Record<string, unknown> = {}): Promise<SoakPipeline> {
  const cfg = loadConfig({ skipDefaultFile: true, env: {}, overrides: { engine, 'detection.detector': detector, 'mqtt.url': '', 'sinks.stdout.enabled': false, ...extra } });
  const loaded = await setupClassifier(cfg, cfg.model.path, silentLogger);
  const slot = new ModelSlot(loaded.classifier);
  const cam = resolveCameras(cfg)[0]!;
  const det = await createDetector(cam.detection, loaded.choice.engine, cfg.threads, silentLogger);
  const bus = new Bus();
  const events: EmotionEvent[] = [];
  bus.on('event', (e) => events.push(e));
  const pipeline = new CameraPipeline({ camera: cam, feed: { next: async () => null }, detector: det, models: slot, bus, clock, log: silentLogger });
  return {
    pipeline,
    detector: det,
    engine: loaded.choice.engine,
    events,
    bus,
    detection: cam.detection,
    async dispose() {
      await det.dispose();
      await slot.dispose();
    },
  };
}

let gcFn: (() => void) | undefined;
/** A full GC, so RSS samples show retained memory rather than garbage not yet collected. */
export function forceGc(): void {
  if (!gcFn) {
    v8.setFlagsFromString('--expose-gc');
    gcFn = vm.runInNewContext('gc') as () => void;
  }
  gcFn();
  gcFn();
}

export const MiB = 1024 * 1024;

export function rssMiB(): number {
  forceGc();
  return process.memoryUsage().rss / MiB;
}
