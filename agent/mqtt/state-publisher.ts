/**
 * Per-camera state (retained, rate-limited when only confidences change) and debounced events (QoS 1, through the
 * bounded offline queue with a maximum age, never replayed after a restart), plus the errors topic: failed sources
 * and a summary of events dropped while the broker was away.
 */
import type { AgentConfig } from '../config/schema.js';
import type { Feature, FeatureHost } from '../core/broker-link.js';
import type { Bus, SourceStatus } from '../core/bus.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import type { AgentTopics } from '../core/topics.js';
import type { EmotionEvent, FrameResult } from '../core/types.js';
import { EventDelivery, type DeliveryStats } from '../events/delivery.js';
import { errorPayload, eventIdFactory, eventPayload } from '../events/payloads.js';
import { CameraStateModel, shouldPublish, stateBody, stateKey } from './camera-state.js';
import type { PausedCameras } from './paused-cameras.js';

interface OutMessage {
  topic: string;
  payload: string;
}

/** How long stop() waits for events already sent to be acknowledged. */
const STOP_FLUSH_MS = 2000;

export class StatePublisher implements Feature {
  private host?: FeatureHost;
  private readonly states = new Map<string, CameraStateModel>();
  private readonly lastState = new Map<string, { key: string; monoMs: number; body: string }>();
  private readonly pendingState = new Map<string, ReturnType<typeof setTimeout>>();
  private readonly delivery: EventDelivery<OutMessage>;
  private readonly nextEventId: () => string;
  private online = false;
  private reportedDrops = 0;

  constructor(
    private readonly cfg: AgentConfig,
    private readonly topics: AgentTopics,
    private readonly paused: PausedCameras,
    private readonly bus: Bus,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly stateMinIntervalMs = 1000,
  ) {
    for (const id of paused.cameraIds) this.states.set(id, new CameraStateModel(id));
    this.nextEventId = eventIdFactory(cfg.agent_id, clock.wall());
    this.delivery = new EventDelivery<OutMessage>(
      { maxItems: cfg.mqtt.offline_queue_max, maxAgeMs: cfg.mqtt.event_max_age_s * 1000 },
      {
        send: (m, done) => {
          if (!this.host) return done(new Error('not connected'));
          this.host.send(m.topic, m.payload, { qos: 1, retain: false }).then(() => done(), (err: Error) => done(err));
        },
      },
      clock,
      (dropped) => {
        for (const d of dropped) {
          this.log.warn(
            { topic: d.item.topic, age_s: Math.round(clock.mono() - d.bornMono) / 1000, reason: d.reason },
            d.reason === 'expired' ? `event dropped: older than mqtt.event_max_age_s (${cfg.mqtt.event_max_age_s} s) before the broker took it` : `event dropped: more than mqtt.offline_queue_max (${cfg.mqtt.offline_queue_max}) events waiting`,
          );
        }
      },
    );
    // Registered first, so a camera's model knows it is paused before anything is published about it.
    paused.onChange((cameraId, isPaused, announce) => {
      this.states.get(cameraId)?.setPaused(isPaused, clock.wall());
      if (announce) this.publishState(cameraId);
    });
    // Paused since before the restart, known only now (the retained switch state came back with the broker): the
    // events it raised meanwhile wait in the offline queue and must not go out.
    paused.onRestoredPause((cameraId) => {
      const eventTopic = this.topics.camera(cameraId).event;
      const n = this.delivery.discard((m) => m.topic === eventTopic);
      if (n > 0) this.log.info({ camera: cameraId, events: n }, 'queued events dropped: the camera was paused before the restart');
    });
  }

  async start(host: FeatureHost): Promise<void> {
    this.host = host;
    this.bus.listen(this, 'result', (r: FrameResult) => {
      const model = this.states.get(r.cameraId);
      if (!model || this.paused.get(r.cameraId)) return;
      model.onResult(r);
      this.maybePublishState(r.cameraId);
    });
    this.bus.listen(this, 'event', (e: EmotionEvent) => {
      const model = this.states.get(e.cameraId);
      // A paused camera raises nothing, even if a frame was already on its way through the pipeline.
      if (!model || this.paused.get(e.cameraId)) return;
      model.onEvent(e);
      const payload = JSON.stringify(eventPayload(e, this.cfg.agent_id, this.nextEventId));
      this.delivery.submit({ topic: this.topics.camera(e.cameraId).event, payload }, e.monoMs);
      this.maybePublishState(e.cameraId);
    });
    this.bus.listen(this, 'source', (s: SourceStatus) => {
      if (s.state !== 'failed') return;
      const body = errorPayload('source_failed', `camera ${s.cameraId}: ${s.reason ?? 'source failed'}`, this.clock.wall(), s.cameraId);
      void host.publish(this.topics.errors, JSON.stringify(body), { qos: 1, retain: false }).catch(() => {});
    });
    host.onConnect('state', async () => {
      this.online = true;
      for (const id of this.states.keys()) this.publishState(id);
    });
    host.onConnect('online', async () => {
      this.delivery.setOnline(true);
      this.reportDrops();
    });
    host.onDisconnect(() => {
      this.online = false;
      this.delivery.setOnline(false);
    });
  }

  async stop(): Promise<void> {
    this.bus.release(this);
    for (const t of this.pendingState.values()) clearTimeout(t);
    this.pendingState.clear();
    // The last events (a face_lost at Ctrl-C) are usually in flight: give the broker a moment to acknowledge them
    // instead of dropping them and warning about events that the subscribers in fact received.
    // Real time, not the injected clock: a test's manual clock would never reach the deadline.
    const deadline = performance.now() + STOP_FLUSH_MS;
    while (this.online && this.delivery.depth() > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const left = this.delivery.clear();
    if (left > 0) this.log.warn({ events: left }, 'MQTT stopping with events not delivered');
  }

  /** Events not yet acknowledged by the broker. */
  queueDepth(): number {
    return this.delivery.depth();
  }

  stats(): DeliveryStats {
    return this.delivery.stats();
  }

  /** Publishes at once when something meaningful changed, else schedules for when the rate limit allows. */
  private maybePublishState(cameraId: string): void {
    const model = this.states.get(cameraId);
    if (!model) return;
    const snap = model.snapshot();
    const next = { key: stateKey(snap), body: stateBody(snap) };
    const now = this.clock.mono();
    const last = this.lastState.get(cameraId);
    if (shouldPublish(last, next, now, this.stateMinIntervalMs)) {
      this.publishState(cameraId);
      return;
    }
    if (last && last.body !== next.body && !this.pendingState.has(cameraId)) {
      const wait = Math.max(0, this.stateMinIntervalMs - (now - last.monoMs));
      this.pendingState.set(
        cameraId,
        setTimeout(() => {
          this.pendingState.delete(cameraId);
          this.publishState(cameraId);
        }, wait),
      );
    }
  }

  private publishState(cameraId: string): void {
    const model = this.states.get(cameraId);
    if (!model) return;
    const pending = this.pendingState.get(cameraId);
    if (pending) {
      clearTimeout(pending);
      this.pendingState.delete(cameraId);
    }
    const snap = model.snapshot();
    if (!this.online || !this.host) return; // republished on connect
    this.lastState.set(cameraId, { key: stateKey(snap), body: stateBody(snap), monoMs: this.clock.mono() });
    void this.host.publish(this.topics.camera(cameraId).state, JSON.stringify(snap), { qos: 0, retain: true }).catch(() => {});
  }

  /** After a reconnect, one error message summarises events dropped while the broker was away. */
  private reportDrops(): void {
    const st = this.delivery.stats();
    const total = st.droppedExpired + st.droppedOverflow;
    if (total <= this.reportedDrops) return;
    const n = total - this.reportedDrops;
    this.reportedDrops = total;
    const body = errorPayload('events_dropped', `${n} event(s) dropped while the broker was away (total: ${st.droppedExpired} too old, ${st.droppedOverflow} over the queue cap)`, this.clock.wall());
    void this.host?.publish(this.topics.errors, JSON.stringify(body), { qos: 1, retain: false }).catch(() => {});
  }
}
