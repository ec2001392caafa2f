/** A live-view host driven by hand: a real Bus and config, with frames and results the test publishes itself. */
import { ManualClock as BaseClock } from '../helpers/clock.js';
import type { AgentConfig } from '../../agent/config/schema.js';
import { loadConfig } from '../../agent/config/load.js';
import { Bus, type ModelInfo } from '../../agent/core/bus.js';
import type { Frame, FrameResult } from '../../agent/core/types.js';
import type { DebouncedState } from '../../agent/events/debouncer.js';
import type { LiveViewHost } from '../../agent/web/live-view.js';

export const LABELS = ['angry', 'happy', 'neutral'];

/** The web tests' clock starts at 10 s. */
export class ManualClock extends BaseClock {
  constructor(t = 10_000) {
    super(t);
  }
}

export function webConfig(overrides: Record<string, unknown> = {}): AgentConfig {
  return loadConfig({ env: {}, overrides: { 'mqtt.url': '', 'sinks.stdout.enabled': false, 'web.enabled': true, 'web.port': 0, ...overrides } });
}

export class HandHost implements LiveViewHost {
  readonly bus = new Bus();
  readonly states = new Map<string, DebouncedState[]>();
  model: ModelInfo = { name: 'hand-model', version: '1.2.3', sha256: 'ab'.repeat(32), labels: LABELS, engine: 'onnxruntime', precision: 'int8', flipTta: true, dir: '/secret/place' };
  readonly pipelines;

  constructor(readonly cfg: AgentConfig) {
    this.pipelines = cfg.cameras.map((c) => ({ cameraId: c.id, states: () => this.states.get(c.id) ?? [], isPaused: () => false }));
  }
}

/** An RGB frame: left half red, right half blue. */
export function splitFrame(cameraId: string, seq: number, monoMs: number, width = 320, height = 240): Frame {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      if (x < width / 2) data.set([210, 30, 30], i);
      else data.set([30, 40, 200], i);
    }
  }
  return { cameraId, seq, monoMs, wallMs: Date.UTC(2026, 0, 1) + monoMs, width, height, channels: 3, data };
}

export function oneFaceResult(cameraId: string, seq: number, monoMs: number, probs = [0.1, 0.8, 0.1]): FrameResult {
  return {
    cameraId,
    seq,
    monoMs,
    wallMs: Date.UTC(2026, 0, 1) + monoMs,
    width: 320,
    height: 240,
    faces: [
      {
        box: { x: 40.04, y: 50, width: 80, height: 100 },
        score: 0.91234,
        emotion: { labels: LABELS, probs: new Float32Array(probs) },
        trackId: 7,
        smoothed: new Float32Array(probs),
        age: 3,
      },
    ],
    timings: { decodeMs: 1, detectMs: 30, classifyMs: 5, waitMs: 6, processMs: 36, totalMs: 42 },
  };
}
