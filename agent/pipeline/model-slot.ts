/**
 * Holds the active classifier and swaps it between frames: a frame leases the classifier it started with, a swap
 * takes effect for the next lease, and the old classifier is disposed once its last lease is returned.
 * So a hot swap never drops or fails a frame in flight.
 */
import type { EmotionClassifier } from '../emotion/classifier.js';
import { Preprocessor } from '../emotion/preprocess.js';

export interface ActiveModel {
  classifier: EmotionClassifier;
  preprocessor: Preprocessor;
  /** Increments on every swap so per-camera state tied to the labels can be reset. */
  generation: number;
}

interface Entry extends ActiveModel {
  leases: number;
  retired: boolean;
}

export class ModelSlot {
  private current: Entry;
  private disposing: Array<Promise<void>> = [];

  constructor(classifier: EmotionClassifier) {
    this.current = { classifier, preprocessor: new Preprocessor(classifier.spec), generation: 0, leases: 0, retired: false };
  }

  get active(): ActiveModel {
    return this.current;
  }

  /** Use the returned model for one frame, then call release(). */
  acquire(): { model: ActiveModel; release: () => void } {
    const e = this.current;
    e.leases++;
    let released = false;
    return {
      model: e,
      release: () => {
        if (released) return;
        released = true;
        e.leases--;
        if (e.retired && e.leases === 0) this.disposing.push(e.classifier.dispose());
      },
    };
  }

  /** Makes `next` active for all following frames; returns the classifier it replaced. */
  swap(next: EmotionClassifier): EmotionClassifier {
    const old = this.current;
    this.current = { classifier: next, preprocessor: new Preprocessor(next.spec), generation: old.generation + 1, leases: 0, retired: false };
    old.retired = true;
    if (old.leases === 0) this.disposing.push(old.classifier.dispose());
    return old.classifier;
  }

  async dispose(): Promise<void> {
    this.current.retired = true;
    if (this.current.leases === 0) this.disposing.push(this.current.classifier.dispose());
    await Promise.allSettled(this.disposing);
  }
}
