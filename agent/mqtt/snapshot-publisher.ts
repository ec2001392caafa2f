/** Opt-in pictures: each camera's snapshot of a debounced emotion event goes to `<camera>/snapshot` (not retained). */
import type { Feature, FeatureHost } from '../core/broker-link.js';
import type { Bus } from '../core/bus.js';
import type { AgentTopics } from '../core/topics.js';
import type { PausedCameras } from './paused-cameras.js';

export class SnapshotPublisher implements Feature {
  /** Pictures published since start (tests, diagnostics). */
  published = 0;

  constructor(
    private readonly topics: AgentTopics,
    private readonly paused: PausedCameras,
    private readonly bus: Bus,
  ) {}

  async start(host: FeatureHost): Promise<void> {
    this.bus.listen(this, 'snapshot', (s) => {
      // Not retained: a picture of a face does not sit on the broker for whoever subscribes later.
      if (this.paused.get(s.cameraId) || !this.paused.cameraIds.includes(s.cameraId)) return;
      this.published++;
      void host.publish(this.topics.camera(s.cameraId).snapshot, s.jpeg, { qos: 0, retain: false }).catch(() => {});
    });
  }

  async stop(): Promise<void> {
    this.bus.release(this);
  }
}
