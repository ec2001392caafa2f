/** Time is injected so pure logic is testable and durations never follow wall-clock jumps. */
export interface Clock {
  /** Monotonic milliseconds: durations, debouncing, timeouts. */
  mono(): number;
  /** Wall-clock milliseconds since the epoch: timestamps for people. */
  wall(): number;
}

export const systemClock: Clock = {
  mono: () => performance.now(),
  wall: () => Date.now(),
};
