/**
 * Pause state over MQTT: the retained `<camera>/paused` topics (Home Assistant's switch state), remembering pauses
 * across restarts (paused.json in the state folder, or the retained topics read back when there is none), and
 * applying pause/resume from commands and the switch.
 */
import type { Feature, FeatureHost } from '../core/broker-link.js';
import type { Bus } from '../core/bus.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { AgentTopics } from '../core/topics.js';
import type { AgentControl } from '../core/types.js';
import type { PausedCameras } from './paused-cameras.js';
import { PauseStore } from './pause-store.js';

export class PauseSync implements Feature {
  private host?: FeatureHost;
  private readonly store?: PauseStore;
  /** Paused-state publishes per camera: one in flight, and the newest state published after it (a burst is one). */
  private readonly publishing = new Map<string, { again: boolean }>();

  constructor(
    private readonly topics: AgentTopics,
    private readonly paused: PausedCameras,
    private readonly control: AgentControl,
    private readonly bus: Bus,
    private readonly log: Logger,
    stateDir: string,
  ) {
    if (stateDir) this.store = PauseStore.inDir(stateDir);
  }

  async start(host: FeatureHost): Promise<void> {
    this.host = host;
    if (this.store) {
      const saved = await this.store.load();
      for (const id of this.paused.cameraIds) {
        if (saved[id] === true && !this.control.isPaused(id)) this.control.setPaused(id, true);
      }
    }
    for (const id of this.paused.cameraIds) this.paused.note(id, this.control.isPaused(id), false);
    this.bus.listen(this, 'paused', (p) => this.paused.note(p.cameraId, p.paused, true));
    this.paused.onChange((cameraId, paused, announce) => {
      if (!announce) return;
      this.log.info({ camera: cameraId, paused }, paused ? 'camera paused' : 'camera resumed');
      void this.publishPaused(cameraId).catch(() => {});
      if (this.store) {
        void this.store.save(this.paused.snapshot()).catch((err) => this.log.error({ err: errorMessage(err) }, 'pause state not saved'));
      }
    });
    if (!this.store) host.onConnect('restore', (first) => (first ? this.restoreFromRetained() : Promise.resolve()));
    host.onConnect('state', async () => {
      await Promise.all(this.paused.cameraIds.map((id) => this.publishPaused(id)));
    });
  }

  async stop(): Promise<void> {
    this.bus.release(this);
  }

  /** Pause or resume cameras (a command or the switch); the switch's state topic answers even when nothing changed. */
  apply(cameraIds: readonly string[], paused: boolean): void {
    for (const id of cameraIds) {
      if (this.control.isPaused(id) !== paused) this.control.setPaused(id, paused);
      // The control may or may not announce it on the bus; note() ignores repeats.
      this.paused.note(id, this.control.isPaused(id), true);
      // Home Assistant shows a stale switch unless its state topic answers.
      this.publishCoalesced(id);
    }
  }

  /** Without a state folder, the retained paused topics are the memory: read them back once, on the first connect. */
  private async restoreFromRetained(): Promise<void> {
    const found = new Map<string, boolean>();
    await this.host!.readRetained(this.topics.pausedAll, (topic, payload) => {
      const p = this.topics.pausedCamera(topic);
      if (p && !p.set && this.paused.cameraIds.includes(p.cameraId)) found.set(p.cameraId, payload.toString().trim().toUpperCase() === 'ON');
    });
    for (const [cameraId, paused] of found) {
      if (paused && !this.control.isPaused(cameraId)) {
        this.log.info({ camera: cameraId }, 'camera stays paused (retained state from before the restart)');
        this.control.setPaused(cameraId, true);
        this.paused.restoredPause(cameraId);
      }
    }
  }

  private async publishPaused(cameraId: string): Promise<void> {
    await this.host?.publish(this.topics.camera(cameraId).paused, this.paused.get(cameraId) ? 'ON' : 'OFF', { qos: 1, retain: true });
  }

  private publishCoalesced(id: string): void {
    const busy = this.publishing.get(id);
    if (busy) {
      busy.again = true;
      return;
    }
    const state = { again: false };
    this.publishing.set(id, state);
    void this.publishPaused(id)
      .catch(() => {})
      .finally(() => {
        this.publishing.delete(id);
        if (state.again) this.publishCoalesced(id);
      });
  }
}
