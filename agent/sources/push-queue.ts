/**
 * Bridges a callback producer to an async iterator. Bounded: when the consumer lags, the oldest items are dropped
 * (a camera's old frames are worthless), so memory never grows.
 */
export class PushQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private ended = false;
  private error: unknown;
  private wake: (() => void) | undefined;
  dropped = 0;

  constructor(private readonly max = 2) {}

  push(item: T): void {
    if (this.ended) return;
    this.items.push(item);
    if (this.items.length > this.max) {
      this.items.shift();
      this.dropped++;
    }
    this.notify();
  }

  /** Ends the iteration after the queued items; with an error, the iteration throws it. */
  end(error?: unknown): void {
    if (this.ended) return;
    this.ended = true;
    this.error = error;
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      const item = this.items.shift();
      if (item !== undefined) {
        yield item;
        continue;
      }
      if (this.ended) {
        if (this.error !== undefined) throw this.error;
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}
