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
  /** Each face also classified mirrored and the two averaged (`model.flip_tta`, or what `auto` decided here). */
  flipTta: boolean;
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

/** Told about a listener that threw; the bus has already gone on to the next listener. */
export type ListenerErrorHandler = (event: keyof BusEvents, err: unknown) => void;

export class Bus extends EventEmitter<BusEvents> {
  private readonly owned = new Map<object, Array<() => void>>();

  /** `onListenerError`: where a throwing listener is reported (the agent logs it); default: a process warning. */
  constructor(private readonly onListenerError: ListenerErrorHandler = (event, err) => process.emitWarning(`bus listener for ${String(event)} threw: ${err instanceof Error ? err.message : String(err)}`)) {
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

  /** A listener threw during emit (see below). */
  reportListenerError(event: keyof BusEvents, err: unknown): void {
    this.onListenerError(event, err);
  }

  /** How many listeners `owner` holds (tests: a stopped feature holds none). */
  heldBy(owner: object): number {
    return this.owned.get(owner)?.length ?? 0;
  }
}

/**
 * Every listener runs, whatever the others do: one that throws (a sink's bug) is reported and skipped, instead of
 * aborting the emit, which lost the event for every listener after it (the watchdog's among them) and threw into the
 * frame loop that emitted it. Installed on the prototype so `emit` keeps EventEmitter's typed signature (an override
 * declared in the class cannot restate its generic form).
 */
Bus.prototype.emit = function emit(this: Bus, event: keyof BusEvents, ...args: unknown[]): boolean {
  // rawListeners: once-listeners stay wrapped, so they still remove themselves.
  const fns = this.rawListeners(event) as Array<(...a: unknown[]) => void>;
  for (const fn of fns) {
    try {
      fn.apply(this, args);
    } catch (err) {
      this.reportListenerError(event, err);
    }
  }
  return fns.length > 0;
} as Bus['emit'];
