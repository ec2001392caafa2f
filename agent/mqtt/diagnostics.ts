/**
 * The agent's retained diagnostics: frame rate and inference latency over a sliding window, engine and model,
 * CPU temperature where the board exposes it, and the event queue (pure, except readCpuTemperature).
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import type { ModelInfo, SourceStatus } from '../core/bus.js';
import type { FrameResult } from '../core/types.js';

export interface DiagnosticsPayload {
  /** Frames processed per second, all cameras together. */
  fps: number;
  /** Mean processing time of a frame (decode + detect + classify + tracking), ms: the agent's own work. */
  latency_ms: number;
  /** Mean age of a frame when work on it began (time it waited after capture), ms; latency_ms + this = capture → result. */
  frame_age_ms: number;
  engine: string;
  /** fp32 or int8: what runs (model.precision, or what auto measured here). */
  precision: string;
  /** Whether each face is also classified mirrored (model.flip_tta, or what auto decided here); null before a model. */
  flip_tta: boolean | null;
  model: string;
  model_version: string;
  cpu_temp_c: number | null;
  /**
   * Per camera; `detector_skipped`: frames since start on which idle gating skipped the detector; `detector_regions`:
   * frames on which it searched only around the followed faces (follow regions).
   */
  cameras: Record<string, { fps: number; latency_ms: number; frame_age_ms: number; detector_skipped: number; detector_regions: number }>;
  events_queued: number;
  events_dropped: number;
  /** Corrupt frames since start, all cameras (a fleet view's error counter: rising means something is wrong). */
  frames_corrupt: number;
  /** Cameras whose source is failed now. */
  sources_failed: number;
  uptime_s: number;
  time: string;
}

interface Sample {
  monoMs: number;
  processMs: number;
  waitMs: number;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;

export class DiagnosticsModel {
  private samples = new Map<string, Sample[]>();
  private model?: ModelInfo;
  private skipped = new Map<string, number>();
  private regions = new Map<string, number>();
  private sources = new Map<string, SourceStatus>();

  constructor(
    cameraIds: readonly string[],
    private readonly windowMs = 10_000,
  ) {
    for (const id of cameraIds) this.samples.set(id, []);
  }

  onResult(r: FrameResult): void {
    const list = this.samples.get(r.cameraId) ?? [];
    list.push({ monoMs: r.monoMs, processMs: r.timings.processMs, waitMs: r.timings.waitMs });
    this.samples.set(r.cameraId, list);
    this.trim(list, r.monoMs);
    if (r.detectorSkipped) this.skipped.set(r.cameraId, (this.skipped.get(r.cameraId) ?? 0) + 1);
    if (r.detectorRegions) this.regions.set(r.cameraId, (this.regions.get(r.cameraId) ?? 0) + 1);
  }

  onSource(s: SourceStatus): void {
    this.sources.set(s.cameraId, s);
  }

  onModel(info: ModelInfo): void {
    this.model = info;
  }

  snapshot(nowMono: number, wallMs: number, extra: { cpuTempC: number | null; queued: number; dropped: number; uptimeS: number }): DiagnosticsPayload {
    const cameras: DiagnosticsPayload['cameras'] = {};
    let fps = 0;
    let latSum = 0;
    let ageSum = 0;
    let latN = 0;
    for (const [id, list] of this.samples) {
      this.trim(list, nowMono);
      // A camera that stopped delivering frames has an empty window: 0 fps.
      const camFps = list.length >= 2 ? ((list.length - 1) * 1000) / Math.max(1, list[list.length - 1].monoMs - list[0].monoMs) : 0;
      const lat = list.reduce((s, x) => s + x.processMs, 0);
      const age = list.reduce((s, x) => s + x.waitMs, 0);
      const n = Math.max(1, list.length);
      cameras[id] = { fps: round1(camFps), latency_ms: round1(lat / n), frame_age_ms: round1(age / n), detector_skipped: this.skipped.get(id) ?? 0, detector_regions: this.regions.get(id) ?? 0 };
      fps += camFps;
      latSum += lat;
      ageSum += age;
      latN += list.length;
    }
    return {
      fps: round1(fps),
      latency_ms: round1(latN > 0 ? latSum / latN : 0),
      frame_age_ms: round1(latN > 0 ? ageSum / latN : 0),
      engine: this.model?.engine ?? 'unknown',
      precision: this.model?.precision ?? 'unknown',
      flip_tta: this.model?.flipTta ?? null,
      model: this.model?.name ?? 'unknown',
      model_version: this.model?.version ?? 'unknown',
      cpu_temp_c: extra.cpuTempC === null ? null : round1(extra.cpuTempC),
      cameras,
      events_queued: extra.queued,
      events_dropped: extra.dropped,
      frames_corrupt: [...this.sources.values()].reduce((n, s) => n + s.framesCorrupt, 0),
      sources_failed: [...this.sources.values()].filter((s) => s.state === 'failed').length,
      uptime_s: Math.round(extra.uptimeS),
      time: new Date(wallMs).toISOString(),
    };
  }

  private trim(list: Sample[], nowMono: number): void {
    while (list.length > 0 && nowMono - list[0].monoMs > this.windowMs) list.shift();
  }
}

/**
 * The CPU temperature in °C from Linux's thermal zones (a zone whose type mentions cpu or soc, else zone 0),
 * or null where the board exposes none (containers, most x86 VMs).
 */
export async function readCpuTemperature(thermalDir = '/sys/class/thermal'): Promise<number | null> {
  let zones: string[];
  try {
    zones = (await readdir(thermalDir)).filter((z) => z.startsWith('thermal_zone')).sort();
  } catch {
    return null;
  }
  const typed: Array<{ zone: string; type: string }> = [];
  for (const zone of zones) {
    const type = await readFile(path.join(thermalDir, zone, 'type'), 'utf8').catch(() => '');
    typed.push({ zone, type: type.trim().toLowerCase() });
  }
  const pick = typed.find((z) => /cpu|soc|x86_pkg/.test(z.type)) ?? typed[0];
  if (!pick) return null;
  const raw = await readFile(path.join(thermalDir, pick.zone, 'temp'), 'utf8').catch(() => '');
  const milli = Number.parseInt(raw.trim(), 10);
  // Zones report millidegrees; a few report nonsense (negative or absurd) when the sensor is absent.
  if (!Number.isFinite(milli) || milli < -40_000 || milli > 150_000) return null;
  return milli / 1000;
}
