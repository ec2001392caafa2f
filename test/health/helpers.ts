/** Shared test helpers for test/health: a hand-driven clock, frame results, and a real NOTIFY_SOCKET receiver. */
import { ManualClock as BaseClock } from '../helpers/clock.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { FrameResult, TrackedFace } from '../../agent/core/types.js';

/** The health tests' clock: 1 s in, on 2026-11-25. */
export class ManualClock extends BaseClock {
  constructor(t = 1000) {
    super(t, Date.UTC(2026, 10, 25));
  }
}

export function face(): TrackedFace {
  return {
    box: { x: 10, y: 10, width: 40, height: 40 },
    score: 0.9,
    emotion: { labels: ['happy', 'sad'], probs: new Float32Array([0.8, 0.2]) },
    trackId: 1,
    smoothed: new Float32Array([0.8, 0.2]),
    age: 1,
  };
}

export function result(cameraId: string, seq: number, faces = 0, timings: FrameResult['timings'] = { decodeMs: 2, detectMs: 30, classifyMs: 4, waitMs: 4, processMs: 36, totalMs: 40 }): FrameResult {
  return { cameraId, seq, monoMs: seq * 100, wallMs: Date.UTC(2026, 10, 25) + seq * 100, width: 320, height: 240, faces: Array.from({ length: faces }, face), timings };
}

export interface NotifyMessage {
  /** Receive time (ms, performance.now of this process when the line was read). */
  at: number;
  /** The datagram's assignments, e.g. { WATCHDOG: '1' }. */
  fields: Record<string, string>;
}

/**
 * A real unix datagram socket standing in for systemd's NOTIFY_SOCKET. Node cannot open one (the very reason
 * sd-notify.ts spawns systemd-notify), so a tiny Python program binds it and prints each datagram as a JSON line.
 * BARRIER=1 datagrams (systemd-notify's delivery check) are dropped after their fd is closed, as systemd does.
 */
export class NotifySocket {
  readonly messages: NotifyMessage[] = [];
  private constructor(
    readonly path: string,
    private readonly dir: string,
    private readonly proc: ChildProcess,
  ) {}

  static async start(): Promise<NotifySocket> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-notify-'));
    const sock = path.join(dir, 'notify.sock');
    const py = [
      'import json, os, socket, sys, array',
      's = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)',
      's.bind(sys.argv[1])',
      'print("READY", flush=True)',
      'while True:',
      '    data, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(16 * 4))',
      '    for level, kind, payload in anc:',
      '        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:',
      '            fds = array.array("i"); fds.frombytes(payload[: len(payload) - len(payload) % 4])',
      '            for fd in fds: os.close(fd)',
      '    print(json.dumps(data.decode("utf-8", "replace")), flush=True)',
    ].join('\n');
    const proc = spawn('python3', ['-c', py, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
    const ns = new NotifySocket(sock, dir, proc);
    const lines = createInterface({ input: proc.stdout! });
    await new Promise<void>((resolve, reject) => {
      proc.once('error', reject);
      proc.once('exit', (code) => reject(new Error(`notify receiver exited with ${code}`)));
      lines.on('line', (line) => {
        if (line === 'READY') return resolve();
        const text = JSON.parse(line) as string;
        const fields = Object.fromEntries(
          text
            .split('\n')
            .filter((l) => l.includes('='))
            .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
        );
        if (fields.BARRIER === undefined) ns.messages.push({ at: performance.now(), fields });
      });
    });
    return ns;
  }

  pings(): number {
    return this.messages.filter((m) => m.fields.WATCHDOG === '1').length;
  }

  async waitFor(pred: () => boolean, timeoutMs: number): Promise<boolean> {
    const end = performance.now() + timeoutMs;
    while (performance.now() < end) {
      if (pred()) return true;
      await new Promise((r) => setTimeout(r, 20));
    }
    return pred();
  }

  stop(): void {
    this.proc.removeAllListeners('exit');
    this.proc.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
