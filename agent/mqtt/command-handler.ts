/**
 * Commands in: `<agent>/command` (JSON: pause, resume, republish) and each camera's `paused/set` (the Home Assistant
 * switch). Every command is answered on `command/reply` (switch commands only when refused); a flood is bounded.
 */
import type { Feature, FeatureHost } from '../core/broker-link.js';
import type { Logger } from '../core/log.js';
import type { AgentTopics } from '../core/topics.js';
import type { AgentControl } from '../core/types.js';
import { commandReply, parseCommand, parseSwitchPayload, type Command, type ParsedCommand } from './commands.js';
import type { PauseSync } from './pause-sync.js';

/** Command replies awaiting their PUBACK at once; more are dropped and counted (a flood must not pile up memory). */
const MAX_REPLIES_IN_FLIGHT = 100;
/** `republish` (discovery + every state) runs at most this often; requests in between are merged. */
const REPUBLISH_MIN_MS = 5000;

export class CommandHandler implements Feature {
  private host?: FeatureHost;
  private repliesInFlight = 0;
  repliesDropped = 0;
  private lastDropWarnMono = Number.NEGATIVE_INFINITY;
  private lastRepublishMono = Number.NEGATIVE_INFINITY;
  private republishTimer?: ReturnType<typeof setTimeout>;

  constructor(
    private readonly topics: AgentTopics,
    private readonly cameraIds: readonly string[],
    private readonly control: AgentControl,
    private readonly pause: PauseSync,
    private readonly log: Logger,
  ) {}

  async start(host: FeatureHost): Promise<void> {
    this.host = host;
    host.route(this.topics.command, (_topic, payload) => this.handle(parseCommand(payload, [...this.cameraIds]), 'command'));
    host.route(this.topics.pausedSetAll, (topic, payload) => {
      const p = this.topics.pausedCamera(topic);
      if (p?.set) this.handle(parseSwitchPayload(payload, p.cameraId, [...this.cameraIds]), 'switch');
    });
  }

  async stop(): Promise<void> {
    clearTimeout(this.republishTimer);
  }

  private handle(parsed: ParsedCommand, via: 'command' | 'switch'): void {
    if (parsed.ok) {
      this.log.info({ command: parsed.command.kind, via }, 'MQTT command');
      this.apply(parsed.command);
    } else {
      this.log.warn({ via, error: parsed.error }, 'MQTT command refused');
    }
    if (via === 'command' || !parsed.ok) this.reply(JSON.stringify(commandReply(parsed)));
  }

  /** Every command is answered, up to MAX_REPLIES_IN_FLIGHT at once; a flood beyond that is counted, not queued. */
  private reply(body: string): void {
    if (this.repliesInFlight >= MAX_REPLIES_IN_FLIGHT) {
      this.repliesDropped++;
      const now = performance.now();
      if (now - this.lastDropWarnMono > 10_000) {
        this.lastDropWarnMono = now;
        this.log.warn({ dropped: this.repliesDropped }, 'command flood: replies dropped');
      }
      return;
    }
    this.repliesInFlight++;
    void this.host!.publish(this.topics.commandReply, body, { qos: 1, retain: false })
      .catch(() => {})
      .finally(() => this.repliesInFlight--);
  }

  private apply(cmd: Command): void {
    if (cmd.kind === 'republish') this.scheduleRepublish();
    else this.pause.apply(cmd.cameras, cmd.kind === 'pause');
  }

  /** A republish now, or (within REPUBLISH_MIN_MS of the last) one more at the end of that window. */
  private scheduleRepublish(): void {
    if (this.republishTimer) return;
    const wait = this.lastRepublishMono + REPUBLISH_MIN_MS - performance.now();
    const run = (): void => {
      this.republishTimer = undefined;
      this.lastRepublishMono = performance.now();
      this.control.republishState();
      void this.host!.republish().catch(() => {});
    };
    if (wait <= 0) run();
    else {
      this.republishTimer = setTimeout(run, wait);
      this.republishTimer.unref?.();
    }
  }
}
