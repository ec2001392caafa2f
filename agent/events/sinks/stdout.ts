/**
 * Events on stdout: one coloured line per event for people at a terminal, JSON lines (event-json.ts) for pipes and
 * log collectors. Logs go to stderr, so stdout stays machine-readable.
 */
import type { Writable } from 'node:stream';
import { errorMessage } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/log.js';
import type { EmotionEvent, EventSink } from '../../core/types.js';
import { FACE_LOST } from '../debouncer.js';
import { eventIdFactory, eventPayload } from '../payloads.js';

export interface StdoutSinkOptions {
  /** Default process.stdout. */
  stream?: Writable & { isTTY?: boolean };
  /** Pretty text instead of JSON; default: whether the stream is a terminal. */
  pretty?: boolean;
  /** ANSI colours in pretty mode; default: unless NO_COLOR is set (https://no-color.org). */
  color?: boolean;
  logger?: Logger;
  /** The agent id in each JSON line (events/schemas/event.v1.json). */
  agentId?: string;
}

const COLORS: Record<string, number> = { angry: 31, disgust: 32, fear: 35, happy: 33, sad: 34, surprise: 36, neutral: 37, [FACE_LOST]: 90 };

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** The human form: `12:00:01.234 [demo] #3 happy ← neutral 87% (held 1.2s)`. */
export function formatPretty(e: EmotionEvent, color: boolean): string {
  const d = new Date(Number.isFinite(e.wallMs) ? e.wallMs : 0);
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  const paint = (text: string, code: number | undefined): string => (color && code !== undefined ? `\x1b[${code}m${text}\x1b[0m` : text);
  const dim = (text: string): string => paint(text, 2);
  const head = `${dim(time)} [${e.cameraId}] #${e.trackId}`;
  if (e.eventType === FACE_LOST) {
    return `${head} ${paint(FACE_LOST, COLORS[FACE_LOST])} ${dim(`(was ${e.previous}, present ${seconds(e.heldMs)})`)}`;
  }
  const what = paint(e.eventType, COLORS[e.eventType] ?? 1);
  return `${head} ${what} ← ${e.previous} ${Math.round(e.confidence * 100)}% ${dim(`(held ${seconds(e.heldMs)})`)}`;
}

export class StdoutSink implements EventSink {
  readonly name = 'stdout';
  private readonly stream: Writable & { isTTY?: boolean };
  private readonly pretty: boolean;
  private readonly color: boolean;
  private readonly logger: Logger;
  private failures = 0;
  private readonly onError = (err: unknown): void => {
    // A closed pipe (e.g. `| head`) must not take the agent down: the other sinks still matter.
    this.failures++;
    if (this.failures === 1) this.logger.warn({ err: errorMessage(err) }, 'stdout sink: cannot write events to stdout');
  };

  private readonly agentId: string;
  private readonly nextId: () => string;

  constructor(options: StdoutSinkOptions = {}) {
    this.stream = options.stream ?? process.stdout;
    this.pretty = options.pretty ?? this.stream.isTTY === true;
    this.color = options.color ?? !process.env.NO_COLOR;
    this.logger = options.logger ?? silentLogger;
    this.agentId = options.agentId ?? 'fer-agent';
    this.nextId = eventIdFactory(this.agentId, Date.now());
    // Stays attached for the sink's life: buffered writes can still fail after the agent stopped sending events.
    this.stream.on('error', this.onError);
  }

  /** Writes that failed (stream errors). */
  get errors(): number {
    return this.failures;
  }

  onEvent(event: EmotionEvent): void {
    const line = this.pretty ? formatPretty(event, this.color) : JSON.stringify(eventPayload(event, this.agentId, this.nextId));
    try {
      this.stream.write(line + '\n');
    } catch (err) {
      this.onError(err);
    }
  }
}
