/**
 * One Server-Sent Events connection. Live messages (results, stats) are skipped while the client is behind, so a
 * slow browser never makes the agent buffer an unbounded backlog; events and model changes are always sent.
 */
import type { ServerResponse } from 'node:http';

/** Above this many unsent bytes, droppable messages are skipped for this client. */
const BACKLOG_LIMIT = 256 * 1024;

export class SseClient {
  private closed = false;

  constructor(private readonly res: ServerResponse) {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Reverse proxies (nginx) must not buffer the stream.
      'x-accel-buffering': 'no',
    });
    // Reconnect quickly after an agent restart.
    res.write('retry: 2000\n\n');
    res.on('close', () => {
      this.closed = true;
    });
  }

  get isClosed(): boolean {
    return this.closed || this.res.destroyed;
  }

  /** Sends one named event; `droppable` messages are skipped while the client is behind. Returns whether it was sent. */
  send(event: string, data: unknown, droppable = false): boolean {
    return this.sendRaw(event, JSON.stringify(data), droppable);
  }

  /** Like send, with the data already serialised (one JSON.stringify for all clients). */
  sendRaw(event: string, json: string, droppable = false): boolean {
    if (this.isClosed) return false;
    if (droppable && this.res.writableLength > BACKLOG_LIMIT) return false;
    this.res.write(`event: ${event}\ndata: ${json}\n\n`);
    return true;
  }

  /** A comment line keeps idle proxies and NAT mappings from closing the stream. */
  ping(): void {
    if (!this.isClosed) this.res.write(': ping\n\n');
  }

  close(): void {
    if (!this.isClosed) this.res.end();
    this.closed = true;
  }
}
