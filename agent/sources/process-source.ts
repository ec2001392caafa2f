/**
 * The shared part of sources that run a program and read frames from its stdout (ffmpeg, rpicam-vid, gstreamer):
 * find the binary (a clear error naming it when missing), spawn, split stdout into frames, keep the end of stderr
 * for the error message, and kill the program when the iteration stops for any reason.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { FerError } from '../core/errors.js';
import { findExecutable } from './find-executable.js';
import { MjpegSplitter } from './mjpeg-splitter.js';
import { RawFrameSplitter } from './raw-splitter.js';
import { redactUrl } from '../core/redact.js';
import type { FrameSource, SourceContext, SourceFrame } from './frame-source.js';

export type ProcessOutput = { kind: 'mjpeg' } | { kind: 'raw'; width: number; height: number };

export interface ProcessSpec {
  /** Programs to try in order (e.g. rpicam-vid, then its old name libcamera-vid); the first on PATH runs. */
  programs: string[];
  args: string[];
  /** Told to the user when none of the programs is installed. */
  installHint: string;
  output: ProcessOutput;
  /** Exit code 0 after stdout ends is a normal end (a non-looping file), not a failure. */
  finite: boolean;
}

const STDERR_TAIL_BYTES = 2000;
const KILL_GRACE_MS = 2000;

type Child = ChildProcessByStdio<null, Readable, Readable>;

function stop(child: Child): void {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  // A program stuck in a driver call may ignore SIGTERM.
  const t = setTimeout(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }, KILL_GRACE_MS);
  t.unref();
  child.once('exit', () => clearTimeout(t));
}

/** Resolves the first installed program or throws FerError('source_failed') naming them. */
export function resolveProgram(programs: string[], installHint: string): string {
  for (const p of programs) {
    const found = findExecutable(p);
    if (found) return found;
  }
  throw new FerError('source_failed', `${programs.join(' or ')} not found on PATH: ${installHint}`);
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-5).join(' | ');
}

export abstract class ProcessSource implements FrameSource {
  abstract readonly description: string;
  private child: Child | undefined;
  private discardedClosed = 0;
  private splitter: MjpegSplitter | undefined;

  constructor(protected readonly ctx: SourceContext) {}

  /** What to run for this connection (may probe the input first). */
  protected abstract spec(signal: AbortSignal): Promise<ProcessSpec>;

  /** The running program's pid (diagnostics and tests). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get discarded(): number {
    return this.discardedClosed + (this.splitter?.discarded ?? 0);
  }

  async *open(signal: AbortSignal): AsyncGenerator<SourceFrame> {
    const spec = await this.spec(signal);
    if (signal.aborted) return;
    const program = resolveProgram(spec.programs, spec.installHint);
    const name = spec.programs.find((p) => program.endsWith('/' + p)) ?? program;
    const { log, clock, cameraId } = this.ctx;
    log.debug({ program, args: spec.args.map(redactUrl) }, 'starting');
    const child: Child = spawn(program, spec.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let spawnError: Error | undefined;
    const closed = new Promise<{ code: number | null; sig: NodeJS.Signals | null }>((resolve) => {
      child.once('close', (code, sig) => resolve({ code, sig }));
      child.once('error', (err) => {
        spawnError = err;
        resolve({ code: null, sig: null });
      });
    });
    let stderrTail = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      stderrTail = (stderrTail + d).slice(-STDERR_TAIL_BYTES);
      log.debug({ stderr: redactUrl(d.trimEnd()) }, `${name} says`);
    });
    const onAbort = (): void => stop(child);
    signal.addEventListener('abort', onAbort, { once: true });

    const out = spec.output;
    const splitter = out.kind === 'mjpeg' ? new MjpegSplitter() : new RawFrameSplitter(out.width * out.height * 3);
    if (splitter instanceof MjpegSplitter) this.splitter = splitter;
    let seq = 0;
    try {
      for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
        const frames = splitter.push(chunk);
        for (const bytes of frames) {
          const monoMs = clock.mono();
          const wallMs = clock.wall();
          if (out.kind === 'raw') {
            yield { kind: 'raw', frame: { cameraId, seq: seq++, monoMs, wallMs, width: out.width, height: out.height, channels: 3, data: bytes } };
          } else {
            yield { kind: 'encoded', frame: { seq: seq++, monoMs, wallMs, bytes } };
          }
        }
        if (signal.aborted) return;
      }
      const { code, sig } = await closed;
      if (signal.aborted) return;
      if (spawnError) throw new FerError('source_failed', `${name} could not start: ${spawnError.message}`);
      if (spec.finite && code === 0) return;
      const how = code !== null ? `with code ${code}` : `on signal ${sig ?? 'unknown'}`;
      throw new FerError('source_failed', `${name} exited ${how}${stderrTail.trim() ? ': ' + redactUrl(lastLines(stderrTail)) : ''}`);
    } finally {
      signal.removeEventListener('abort', onAbort);
      stop(child);
      if (splitter instanceof MjpegSplitter) {
        this.discardedClosed += splitter.discarded;
        this.splitter = undefined;
      }
      if (this.child === child) this.child = undefined;
    }
  }
}
