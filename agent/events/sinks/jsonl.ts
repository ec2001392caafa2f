/**
 * Events appended as JSON lines to a file. Each batch opens the file in append mode, so a file that was rotated,
 * deleted, or whose directory was removed is simply created again; failures are logged and counted, never thrown.
 */
import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage } from '../../core/errors.js';
import { silentLogger, type Logger } from '../../core/log.js';
import type { EmotionEvent, EventSink } from '../../core/types.js';
import { eventIdFactory, eventPayload } from '../payloads.js';

function code(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

export class JsonlSink implements EventSink {
  readonly name = 'jsonl';
  private pending: string[] = [];
  private writing: Promise<void> | undefined;
  private failedWrites = 0;
  private lostEvents = 0;
  private failing = false;
  private stopped = false;

  private readonly nextId: () => string;

  constructor(
    readonly file: string,
    private readonly logger: Logger = silentLogger,
    /** The agent id in each line (events/schemas/event.v1.json). */
    private readonly agentId = 'fer-agent',
  ) {
    this.nextId = eventIdFactory(agentId, Date.now());
  }

  /** Batches that could not be written. */
  get errors(): number {
    return this.failedWrites;
  }

  /** Events those batches held. */
  get lost(): number {
    return this.lostEvents;
  }

  async start(): Promise<void> {
    try {
      await mkdir(path.dirname(this.file), { recursive: true });
    } catch (err) {
      // Not fatal: the directory may become creatable later, and each write tries again.
      this.logger.warn({ file: this.file, err: errorMessage(err) }, 'jsonl sink: cannot create the directory for events');
    }
  }

  /** Queues the event; the returned promise settles (never rejects) once it was written or given up on. */
  onEvent(event: EmotionEvent): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.pending.push(JSON.stringify(eventPayload(event, this.agentId, this.nextId)) + '\n');
    this.writing ??= this.drain();
    return this.writing;
  }

  /** Waits for queued events to be written. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.writing;
  }

  private async drain(): Promise<void> {
    // Writes are serialised so lines never interleave; events arriving meanwhile go in the next batch.
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      await this.append(batch);
    }
    this.writing = undefined;
  }

  private async append(lines: string[]): Promise<void> {
    const text = lines.join('');
    try {
      try {
        await appendFile(this.file, text);
      } catch (err) {
        if (code(err) !== 'ENOENT') throw err;
        await mkdir(path.dirname(this.file), { recursive: true });
        await appendFile(this.file, text);
      }
      if (this.failing) this.logger.info({ file: this.file }, 'jsonl sink: writing events again');
      this.failing = false;
    } catch (err) {
      this.failedWrites++;
      this.lostEvents += lines.length;
      // One warning per outage, not one per event.
      if (!this.failing) this.logger.warn({ file: this.file, err: errorMessage(err) }, 'jsonl sink: cannot append events');
      else this.logger.debug({ file: this.file, err: errorMessage(err) }, 'jsonl sink: cannot append events');
      this.failing = true;
    }
  }
}
