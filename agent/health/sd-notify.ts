/**
 * The systemd notify protocol (sd_notify(3)): READY=1, WATCHDOG=1, STATUS=..., STOPPING=1, sent to the unix
 * datagram socket systemd names in $NOTIFY_SOCKET.
 *
 * Why a child process: Node 20 cannot open a unix *datagram* socket. node:dgram only does udp4/udp6, and node:net
 * only does stream sockets (connecting one to systemd's SOCK_DGRAM socket fails with EPROTOTYPE). Rather than ship
 * a native addon (a build on every Pi) we run `systemd-notify`, which is part of systemd itself and so exists
 * wherever $NOTIFY_SOCKET does. Consequences, all handled here and in systemd/fer-agent.service:
 *  - the datagram comes from the child's PID, so the unit needs NotifyAccess=all;
 *  - systemd attributes a datagram to a unit by the sender's cgroup, which it can only look up while the sender
 *    lives. systemd-notify (systemd >= 246) therefore waits on a BARRIER=1 round trip before exiting, so nothing
 *    is lost; on older systemd (Ubuntu 20.04 / JetPack 5 has 245) a ping can rarely be dropped, which is why the
 *    watchdog pings three times per interval;
 *  - READY carries --pid=<our pid> (MAINPID=) so systemd tracks this process even if a wrapper forked it.
 * Outside systemd (NOTIFY_SOCKET unset) every call is a no-op that resolves false: the agent runs the same
 * under a terminal, Docker or tests.
 */
import { execFile } from 'node:child_process';
import type { Logger } from '../core/log.js';
import { errorMessage } from '../core/errors.js';

export type NotifyFields = Readonly<Record<string, string | number>>;

export interface NotifierOptions {
  /** Where NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID are read from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** This process's PID (default process.pid): WATCHDOG_PID must match it for the watchdog to apply to us. */
  pid?: number;
  /**
   * Remove NOTIFY_SOCKET/WATCHDOG_* from `env` after reading them (like sd_notify's unset_environment), so the
   * camera processes we spawn (ffmpeg, rpicam-vid, gst-launch) cannot talk to systemd for us. Default false.
   */
  unsetEnvironment?: boolean;
  /** The systemd-notify executable (default: found on PATH). */
  command?: string;
  /** Give up on one message after this long (systemd-notify's own barrier timeout is 5 s). */
  timeoutMs?: number;
  logger?: Logger;
}

/** Turns fields into systemd-notify arguments: KEY=VALUE, keys upper-case, values on one line. */
export function notifyArgs(fields: NotifyFields): string[] {
  return Object.entries(fields).map(([k, v]) => {
    if (!/^[A-Z][A-Z0-9_]*$/.test(k)) throw new Error(`sd_notify field ${JSON.stringify(k)} is invalid: expected upper-case letters, digits and _`);
    // A newline would start a new assignment in the datagram; systemd ignores what it cannot parse, so flatten.
    return `${k}=${String(v).replace(/[\r\n]+/g, ' ')}`;
  });
}

/**
 * The watchdog interval in ms that systemd expects pings within (sd_watchdog_enabled(3)), or null when the
 * watchdog is off or meant for another process (WATCHDOG_PID set to a PID other than ours).
 */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number): number | null {
  const usec = env.WATCHDOG_USEC;
  if (!usec || !/^\d+$/.test(usec)) return null;
  const us = Number(usec);
  if (!(us > 0) || !Number.isSafeInteger(us)) return null;
  const wpid = env.WATCHDOG_PID;
  if (wpid !== undefined && wpid !== '' && Number(wpid) !== pid) return null;
  return us / 1000;
}

export class SdNotifier {
  /** The socket systemd listens on; null when not started by systemd with Type=notify. */
  readonly socket: string | null;
  /** The watchdog interval (ms) for this process, or null when WatchdogSec is not set. */
  readonly watchdogMs: number | null;
  private readonly command: string;
  private readonly timeoutMs: number;
  private readonly pid: number;
  private readonly log: Logger | undefined;
  /** Messages go out one at a time and in order: READY must not overtake STATUS, STOPPING must come last. */
  private chain: Promise<unknown> = Promise.resolve();
  private broken = false;
  private pingInFlight = false;

  constructor(opts: NotifierOptions = {}) {
    const env = opts.env ?? process.env;
    this.pid = opts.pid ?? process.pid;
    this.socket = env.NOTIFY_SOCKET ? env.NOTIFY_SOCKET : null;
    this.watchdogMs = this.socket ? watchdogIntervalMs(env, this.pid) : null;
    this.command = opts.command ?? 'systemd-notify';
    this.timeoutMs = opts.timeoutMs ?? 8000;
    this.log = opts.logger;
    if (opts.unsetEnvironment) {
      delete env.NOTIFY_SOCKET;
      delete env.WATCHDOG_USEC;
      delete env.WATCHDOG_PID;
    }
  }

  /** True when notifications reach systemd (or at least are attempted). */
  get enabled(): boolean {
    return this.socket !== null && !this.broken;
  }

  /** Sends fields; resolves true when systemd-notify delivered them, false when off or failed (never rejects). */
  notify(fields: NotifyFields, extraArgs: string[] = []): Promise<boolean> {
    if (!this.enabled) return Promise.resolve(false);
    const args = [...extraArgs, ...notifyArgs(fields)];
    const run = this.chain.then(() => this.send(args));
    this.chain = run;
    return run;
  }

  ready(status?: string): Promise<boolean> {
    return this.notify(status ? { READY: 1, STATUS: status } : { READY: 1 }, [`--pid=${this.pid}`]);
  }

  status(text: string): Promise<boolean> {
    return this.notify({ STATUS: text });
  }

  stopping(status?: string): Promise<boolean> {
    return this.notify(status ? { STOPPING: 1, STATUS: status } : { STOPPING: 1 });
  }

  /** One keep-alive ping; skipped (false) while the previous ping is still on its way, so pings never pile up. */
  async watchdog(): Promise<boolean> {
    if (this.pingInFlight || !this.enabled) return false;
    this.pingInFlight = true;
    try {
      return await this.notify({ WATCHDOG: 1 });
    } finally {
      this.pingInFlight = false;
    }
  }

  private send(args: string[]): Promise<boolean> {
    const socket = this.socket;
    if (socket === null || this.broken) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      // Only NOTIFY_SOCKET and PATH go to the child: nothing else of ours is its business.
      const env = { PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', NOTIFY_SOCKET: socket };
      execFile(this.command, args, { env, timeout: this.timeoutMs, windowsHide: true }, (err, _stdout, stderr) => {
        if (!err) return resolve(true);
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') {
          // No systemd-notify: nothing will ever get through, so say it once and stop trying.
          this.broken = true;
          this.log?.error({ command: this.command }, 'NOTIFY_SOCKET is set but systemd-notify is not installed: systemd will not see READY or watchdog pings');
        } else {
          this.log?.warn({ args, err: errorMessage(err), stderr: String(stderr).trim() }, 'systemd-notify failed');
        }
        resolve(false);
      });
    });
  }
}
