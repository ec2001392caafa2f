/**
 * Delivers events at least once over a transport that acknowledges (MQTT QoS 1 PUBACK, a websocket result),
 * without ever replaying an event as new:
 * - while offline, events wait in the bounded OfflineQueue and leave it only while younger than its max age;
 * - an acknowledged event is forgotten, so no reconnect sends it again;
 * - an event sent but not acknowledged when the link dropped goes back to the front of the queue and is re-sent
 *   only if still young enough (QoS 1 is at-least-once: the broker may have it; the payload's `event_id` lets a
 *   consumer spot that rare duplicate).
 * The transport itself must not keep or replay anything (see no-replay-store.ts for mqtt.js).
 */
import type { Clock } from '../core/clock.js';
import { OfflineQueue, type Dropped } from './offline-queue.js';

export interface DeliveryTransport<T> {
  /** Sends one item; `done()` once it is acknowledged, `done(err)` when it was not delivered. */
  send(item: T, done: (err?: Error) => void): void;
}

interface Pending<T> {
  serial: number;
  item: T;
}

export interface DeliveryStats {
  queued: number;
  inflight: number;
  delivered: number;
  droppedExpired: number;
  droppedOverflow: number;
}

export class EventDelivery<T> {
  private readonly queue: OfflineQueue<Pending<T>>;
  private readonly inflight = new Map<number, { item: Pending<T>; bornMono: number }>();
  private online = false;
  private serial = 0;
  private delivered = 0;

  constructor(
    opts: { maxItems: number; maxAgeMs: number },
    private readonly transport: DeliveryTransport<T>,
    private readonly clock: Clock,
    private readonly onDrop: (dropped: Array<Dropped<T>>) => void = () => {},
  ) {
    this.queue = new OfflineQueue<Pending<T>>(opts.maxItems, opts.maxAgeMs);
  }

  /** A new event; `bornMono` is when it happened (its age counts from there). */
  submit(item: T, bornMono: number): void {
    const p: Pending<T> = { serial: ++this.serial, item };
    if (this.online && this.queue.size === 0) {
      this.send(p, bornMono);
      return;
    }
    this.report(this.queue.push(p, bornMono, this.clock.mono()));
    this.drain();
  }

  /** The link came up (drain the queue) or went down (unacknowledged events go back to the queue). */
  setOnline(online: boolean): void {
    if (online) {
      // Every `online` drains, even when already online: a send that failed since (the link had gone before the
      // bridge said so) left its event waiting, and only a drain sends it.
      this.online = true;
      this.drain();
      return;
    }
    if (!this.online) return;
    this.online = false;
    const back = [...this.inflight.values()].sort((a, b) => a.item.serial - b.item.serial);
    this.inflight.clear();
    this.report(this.queue.requeue(back, this.clock.mono()));
  }

  isOnline(): boolean {
    return this.online;
  }

  /** Events not yet acknowledged (waiting or in flight). */
  depth(): number {
    return this.queue.size + this.inflight.size;
  }

  stats(): DeliveryStats {
    const q = this.queue.stats();
    return { queued: q.size, inflight: this.inflight.size, delivered: this.delivered, droppedExpired: q.droppedExpired, droppedOverflow: q.droppedOverflow };
  }

  /** Forgets the waiting events that match (not those in flight: the broker may have them already); returns how many. */
  discard(match: (item: T) => boolean): number {
    return this.queue.remove((p) => match(p.item));
  }

  /** Forgets everything still waiting (shutdown); returns how many events were left undelivered. */
  clear(): number {
    const n = this.depth();
    this.queue.clear();
    this.inflight.clear();
    return n;
  }

  private drain(): void {
    while (this.online) {
      const { entry, dropped } = this.queue.shift(this.clock.mono());
      this.report(dropped);
      if (!entry) return;
      this.send(entry.item, entry.bornMono);
    }
  }

  private send(p: Pending<T>, bornMono: number): void {
    this.inflight.set(p.serial, { item: p, bornMono });
    this.transport.send(p.item, (err) => {
      const mine = this.inflight.get(p.serial);
      if (!err) {
        this.delivered++;
        if (mine) this.inflight.delete(p.serial);
        // A late acknowledgement for an event already put back: it arrived, so it must not be sent again.
        else this.queue.remove((q) => q.serial === p.serial);
        return;
      }
      if (!mine) return; // already put back when the link dropped
      this.inflight.delete(p.serial);
      this.report(this.queue.requeue([mine], this.clock.mono()));
    });
  }

  private report(dropped: Array<Dropped<Pending<T>>>): void {
    if (dropped.length > 0) this.onDrop(dropped.map((d) => ({ item: d.item.item, bornMono: d.bornMono, reason: d.reason })));
  }
}
