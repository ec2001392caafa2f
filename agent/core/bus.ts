/**
 * The typed event bus the pipeline publishes on; sinks, MQTT, Home Assistant, metrics and the live view subscribe.
 * Modules talk through it instead of calling each other.
 */
import { EventEmitter } from 'node:events';
import type { EmotionEvent, Frame, FrameResult } from './types.js';

export interface ModelInfo {
  name: string;
  version: string;
  sha256: string;
  labels: string[];
  engine: string;
  /** The form the engine runs: `model.precision`, or what `auto` measured on this machine. */
  precision: 'fp32' | 'int8';
  /** Where the active bundle lives. */
  dir: string;
}

export interface SourceStatus {
  cameraId: string;
  state: 'connecting' | 'running' | 'failed' | 'stopped';
  reason?: string;
  framesDropped: number;
  framesCorrupt: number;
}

export interface BusEvents {
  /** A processed frame (faces, tracks, timings). */
  result: [FrameResult];
  /** The decoded frame behind a result; only emitted while someone listens (the live view). */
  frame: [Frame];
  /** A debounced emotion change. */
  event: [EmotionEvent];
  /** The active model changed (startup, hot swap, rollback). */
  model: [ModelInfo];
  source: [SourceStatus];
  /** A camera was paused or resumed by a command. */
  paused: [{ cameraId: string; paused: boolean }];
  /** The picture of a debounced emotion event (only for cameras with snapshot.enabled). */
  snapshot: [{ cameraId: string; eventId: string | undefined; eventType: string; jpeg: Buffer }];
}

type Listener<K extends keyof BusEvents> = (...args: BusEvents[K]) => void;

export class Bus extends EventEmitter<BusEvents> {
  private readonly owned = new Map<object, Array<() => void>>();

  constructor() {
    super({ captureRejections: false });
    this.setMaxListeners(50);
  }

  /** Subscribes on behalf of `owner` (a feature); `release(owner)` removes all of its listeners together. */
  listen<K extends keyof BusEvents>(owner: object, event: K, fn: Listener<K>): void {
    const on = this.on.bind(this) as (e: K, f: Listener<K>) => void;
    const off = this.off.bind(this) as (e: K, f: Listener<K>) => void;
    on(event, fn);
    const list = this.owned.get(owner) ?? [];
    list.push(() => off(event, fn));
    this.owned.set(owner, list);
  }

  /** Removes every listener `owner` added with listen(). */
  release(owner: object): void {
    for (const off of this.owned.get(owner) ?? []) off();
    this.owned.delete(owner);
  }

  /** How many listeners `owner` holds (tests: a stopped feature holds none). */
  heldBy(owner: object): number {
    return this.owned.get(owner)?.length ?? 0;
  }
}
