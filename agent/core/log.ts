import pino, { type Logger } from 'pino';

export type { Logger };

/** Structured JSON logs; pretty and coloured when stderr is a terminal. Logs go to stderr so stdout carries events. */
export function createLogger(level = process.env.FER_LOG_LEVEL ?? 'info', pretty = process.stderr.isTTY === true): Logger {
  if (pretty) {
    return pino({
      level,
      transport: { target: 'pino-pretty', options: { destination: 2, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  return pino({ level }, pino.destination(2));
}

/** A logger that drops everything, for tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });
