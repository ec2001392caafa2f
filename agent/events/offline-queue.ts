/**
 * A bounded FIFO for events that could not be delivered yet (broker or Home Assistant away).
 * Pure: time is passed in (monotonic ms), so a wall-clock jump never makes an old event look young.
 * An entry is deliverable only while `now - bornMono < maxAgeMs`; older ones are dropped when met,
 * and when the queue is full the oldest entry makes room. Every drop is counted and returned to the caller to log.
 */

export type DropReason = 'expired' | 'overflow';

export interface QueueEntry<T> {
  item: T;
  /** When the item came to be (monotonic ms): its age is measured from here, not from when it was queued. */
  bornMono: number;
}

export interface Dropped<T> extends QueueEntry<T> {
  reason: DropReason;
}

export interface QueueStats {
  size: number;
  droppedExpired: number;
  droppedOverflow: number;
}

export class OfflineQueue<T> {
  private entries: Array<QueueEntry<T>> = [];
  private expired = 0;
  private overflow = 0;

  constructor(
    readonly maxItems: number,
    readonly maxAgeMs: number,
  ) {
    if (!Number.isInteger(maxItems) || maxItems < 0) throw new RangeError(`maxItems must be a whole number >= 0, got ${maxItems}`);
    if (!(maxAgeMs >= 0)) throw new RangeError(`maxAgeMs must be >= 0, got ${maxAgeMs}`);
  }

  get size(): number {
    return this.entries.length;
  }

  stats(): QueueStats {
    return { size: this.entries.length, droppedExpired: this.expired, droppedOverflow: this.overflow };
  }

  /** Appends an item; returns what had to go (expired entries, then the oldest beyond the cap). */
  push(item: T, bornMono: number, nowMono: number): Array<Dropped<T>> {
    const dropped = this.prune(nowMono);
    if (!this.fresh(bornMono, nowMono)) {
      this.expired++;
      dropped.push({ item, bornMono, reason: 'expired' });
      return dropped;
    }
    this.entries.push({ item, bornMono });
    return dropped.concat(this.trim());
  }

  /**
   * Puts entries back at the front, in the given order (they were taken out earlier and are older than the rest),
   * e.g. events that were sent but never acknowledged when the connection dropped.
   */
  requeue(items: Array<QueueEntry<T>>, nowMono: number): Array<Dropped<T>> {
    this.entries = items.map((e) => ({ item: e.item, bornMono: e.bornMono })).concat(this.entries);
    return this.prune(nowMono).concat(this.trim());
  }

  /** Removes and returns the oldest entry that is still young enough; expired ones met on the way are dropped. */
  shift(nowMono: number): { entry?: QueueEntry<T>; dropped: Array<Dropped<T>> } {
    const dropped: Array<Dropped<T>> = [];
    for (;;) {
      const e = this.entries.shift();
      if (!e) return { dropped };
      if (this.fresh(e.bornMono, nowMono)) return { entry: e, dropped };
      this.expired++;
      dropped.push({ ...e, reason: 'expired' });
    }
  }

  /** Drops every entry that is too old by now. */
  prune(nowMono: number): Array<Dropped<T>> {
    const dropped: Array<Dropped<T>> = [];
    const keep: Array<QueueEntry<T>> = [];
    for (const e of this.entries) {
      if (this.fresh(e.bornMono, nowMono)) keep.push(e);
      else {
        this.expired++;
        dropped.push({ ...e, reason: 'expired' });
      }
    }
    this.entries = keep;
    return dropped;
  }

  /** Removes entries matching `pred` without counting them as dropped (they turned out to be delivered). */
  remove(pred: (item: T) => boolean): number {
    const before = this.entries.length;
    this.entries = this.entries.filter((e) => !pred(e.item));
    return before - this.entries.length;
  }

  /** Empties the queue without counting drops (shutdown); returns what was left. */
  clear(): Array<QueueEntry<T>> {
    const left = this.entries;
    this.entries = [];
    return left;
  }

  private fresh(bornMono: number, nowMono: number): boolean {
    return nowMono - bornMono < this.maxAgeMs;
  }

  private trim(): Array<Dropped<T>> {
    const dropped: Array<Dropped<T>> = [];
    while (this.entries.length > this.maxItems) {
      const e = this.entries.shift() as QueueEntry<T>;
      this.overflow++;
      dropped.push({ ...e, reason: 'overflow' });
    }
    return dropped;
  }
}
