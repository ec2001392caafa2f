/** An agent-shaped camera (real source → CameraFeed → CameraPipeline with CenterFace + onnxruntime) for fault tests. */
import { loadConfig, resolveCameras } from '../../agent/config/load.js';
import type { SourceConfig } from '../../agent/config/schema.js';
import { Bus, type SourceStatus } from '../../agent/core/bus.js';
import type { Logger } from '../../agent/core/log.js';
import type { FrameResult } from '../../agent/core/types.js';
import { CameraPipeline } from '../../agent/pipeline/camera-pipeline.js';
import { setupClassifier } from '../../agent/pipeline/classifier-setup.js';
import { ModelSlot } from '../../agent/pipeline/model-slot.js';
import { CameraFeed } from '../../agent/sources/camera-feed.js';
import { createSource } from '../../agent/sources/source.js';
import { createDetector } from '../../agent/vision/create-detector.js';

export interface Harness {
  feed: CameraFeed;
  pipeline: CameraPipeline;
  results: FrameResult[];
  statuses: SourceStatus[];
  bus: Bus;
  /** Runs the frame loop until the feed ends or stop() is called. */
  running: Promise<void>;
  stop(): Promise<void>;
}

export async function startHarness(source: SourceConfig, log: Logger): Promise<Harness> {
  const cfg = loadConfig({ skipDefaultFile: true, env: {}, overrides: { engine: 'onnxruntime', 'detection.detector': 'centerface', 'mqtt.url': '', 'sinks.stdout.enabled': false } });
  const loaded = await setupClassifier(cfg, cfg.model.path, log);
  const slot = new ModelSlot(loaded.classifier);
  const cam = resolveCameras(cfg)[0]!;
  const detector = await createDetector(cam.detection, loaded.choice.engine, cfg.threads, log);
  const bus = new Bus();
  const results: FrameResult[] = [];
  const statuses: SourceStatus[] = [];
  bus.on('result', (r) => results.push(r));
  const feed = new CameraFeed({
    cameraId: cam.id,
    source: createSource(cam.id, source, log, { fps: 50 }),
    fps: 50,
    log,
    corruptWarnIntervalMs: 0,
    backoff: { baseMs: 100, capMs: 400, healthyMs: 10_000 },
    onStatus: (s) => statuses.push(s),
  });
  const pipeline = new CameraPipeline({ camera: cam, feed, detector, models: slot, bus, clock: { mono: () => performance.now(), wall: () => Date.now() }, log });
  const abort = new AbortController();
  const running = pipeline.run(abort.signal);
  let stopped = false;
  return {
    feed,
    pipeline,
    results,
    statuses,
    bus,
    running,
    async stop() {
      if (stopped) return;
      stopped = true;
      abort.abort();
      await feed.stop();
      await running;
      await detector.dispose();
      await slot.dispose();
    },
  };
}
