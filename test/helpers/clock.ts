/** The one test clock: time moves only when the test says so; the wall clock can also jump on its own. */
import type { Clock } from '../../agent/core/clock.js';

export class ManualClock implements Clock {
  /** Added to the wall clock only: a test's clock jump (NTP, a dead RTC battery). */
  wallOffset = 0;

  constructor(
    /** Monotonic milliseconds. */
    public t = 0,
    private readonly epochMs = Date.UTC(2026, 0, 1),
  ) {}

  mono(): number {
    return this.t;
  }

  wall(): number {
    return this.epochMs + this.t + this.wallOffset;
  }

  advance(ms: number): void {
    this.t += ms;
  }
}
