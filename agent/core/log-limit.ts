/**
 * Repeated warnings, rate-limited (pure): a folder of bad images or a flood of malformed commands must not turn the
 * log into a firehose (seen: ~22 lines/s, and 6,114 lines for 10,000 commands). Per message, the first `burst` lines
 * of a window go out; the rest are counted, and the next line that goes out says how many were suppressed.
 */
export interface LogLimit {
  /** Lines per message per window that go out as they come. */
  burst: number;
  windowMs: number;
}

export const DEFAULT_LOG_LIMIT: LogLimit = { burst: 5, windowMs: 60_000 };

export class LogLimiter {
  private readonly seen = new Map<string, { start: number; count: number; suppressed: number }>();

  constructor(private readonly limit: LogLimit = DEFAULT_LOG_LIMIT, private readonly maxKeys = 1000) {}

  /** Whether a line with this key goes out now, and how many like it were suppressed since the last that did. */
  admit(key: string, nowMs: number): { emit: boolean; suppressed: number } {
    let s = this.seen.get(key);
    if (!s || nowMs - s.start >= this.limit.windowMs) {
      const suppressed = s?.suppressed ?? 0;
      if (!s && this.seen.size >= this.maxKeys) this.seen.delete(this.seen.keys().next().value as string);
      this.seen.set(key, { start: nowMs, count: 1, suppressed: 0 });
      return { emit: true, suppressed };
    }
    s.count++;
    if (s.count <= this.limit.burst) {
      const suppressed = s.suppressed;
      s.suppressed = 0;
      return { emit: true, suppressed };
    }
    s.suppressed++;
    return { emit: false, suppressed: 0 };
  }
}
