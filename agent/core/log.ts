import pino, { type Logger, type LoggerOptions } from 'pino';
import { redactDeep, redactUrl } from './redact.js';

export type { Logger };

/**
 * Every log line has the user:password of any URL in it masked, in fields and in the message, whatever the level:
 * a camera or broker URL with credentials may reach a log from anywhere (an error message, a library's text).
 */
const redacting: LoggerOptions = {
  formatters: { log: (obj) => redactDeep(obj) },
  hooks: {
    logMethod(args, method) {
      method.apply(this, args.map((a) => (typeof a === 'string' ? redactUrl(a) : a)) as Parameters<typeof method>);
    },
  },
};

/** Structured JSON logs; pretty and coloured when stderr is a terminal. Logs go to stderr so stdout carries events. */
export function createLogger(level = process.env.FER_LOG_LEVEL ?? 'info', pretty = process.stderr.isTTY === true): Logger {
  if (pretty) {
    return pino({
      level,
      ...redacting,
      transport: { target: 'pino-pretty', options: { destination: 2, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  return pino({ level, ...redacting }, pino.destination(2));
}

/** A logger that drops everything, for tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });
