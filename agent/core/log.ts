import pino, { type Logger, type LoggerOptions } from 'pino';
import { LogLimiter } from './log-limit.js';
import { redactDeep, redactUrl } from './redact.js';

export type { Logger };

/**
 * Every log line has the user:password of any URL in it masked, in fields and in the message, whatever the level:
 * a camera or broker URL with credentials may reach a log from anywhere (an error message, a library's text).
 * Repeated warnings and errors are rate-limited (log-limit.ts).
 */
export function loggerOptions(limiter: LogLimiter = new LogLimiter(), now: () => number = () => performance.now()): LoggerOptions {
  return {
    formatters: { log: (obj) => redactDeep(obj) },
    hooks: {
      logMethod(args, method, level) {
        let out = args.map((a) => (typeof a === 'string' ? redactUrl(a) : a));
        // Warnings and errors repeat in floods (bad frames, malformed commands): at most a burst per message per
        // window, and the next one that goes out counts what was left out. Info and debug are never dropped.
        if (level >= 40) {
          const msg = out.find((a) => typeof a === 'string');
          const { emit, suppressed } = limiter.admit(`${level}:${typeof msg === 'string' ? msg : ''}`, now());
          if (!emit) return;
          if (suppressed > 0) {
            const first = out[0];
            out = typeof first === 'object' && first !== null ? [{ ...first, suppressed }, ...out.slice(1)] : [{ suppressed }, ...out];
          }
        }
        method.apply(this, out as Parameters<typeof method>);
      },
    },
  };
}

/** Structured JSON logs; pretty and coloured when stderr is a terminal. Logs go to stderr so stdout carries events. */
export function createLogger(level = process.env.FER_LOG_LEVEL ?? 'info', pretty = process.stderr.isTTY === true): Logger {
  if (pretty) {
    return pino({
      level,
      ...loggerOptions(),
      transport: { target: 'pino-pretty', options: { destination: 2, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  return pino({ level, ...loggerOptions() }, pino.destination(2));
}

/** A logger that drops everything, for tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });
