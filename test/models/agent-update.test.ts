/**
 * End to end with real agent processes (sample frames → CenterFace → classifier → events) and a real Mosquitto:
 * a push to one of two agents changes only that agent's model while it keeps producing results and events without
 * a failed frame; a push to `all` reaches both; an agent killed mid-install restarts on the previous model; rollback
 * restores the previous version.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { silentLogger } from '../../agent/core/log.js';
import { modelPushCommand, modelRollbackCommand } from '../../agent/cli/model-cli.js';
import type { StoreStep } from '../../agent/models/store.js';
import { mosquittoAvailable, startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { bundleCopy, fixtureBundle, makeKey, sign, tempDir } from './support.js';

const childJs = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'agent-child.js');
const key = makeKey();
const BASE = 'fere2e';

/** type: ready, model, result, event, stats, connected (the update connection is up again). */
type Line = { type: string; version?: string; source?: string; seq?: number; faces?: number; eventType?: string; frames?: number; errors?: number };

class AgentProcess {
  readonly lines: Line[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly proc: ChildProcess;
  private stderr = '';
  private waiters: Array<() => void> = [];

  constructor(readonly id: string, opts: Record<string, unknown>) {
    this.proc = spawn(process.execPath, [childJs, JSON.stringify({ agentId: id, baseTopic: BASE, trustedKey: key.pubFile, baseModel: fixtureBundle(), ...opts })], { stdio: ['ignore', 'pipe', 'pipe'] });
    createInterface({ input: this.proc.stdout! }).on('line', (l) => {
      try {
        this.lines.push(JSON.parse(l) as Line);
      } catch {
        return;
      }
      for (const w of this.waiters) w();
    });
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => {
      resolve({ code, signal });
      for (const w of this.waiters) w();
    }));
  }

  /** Waits until `pred` holds over the lines so far (60 s at most: agent startup on a busy machine). */
  async until(what: string, pred: (lines: Line[]) => boolean, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.lines)) {
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) throw new Error(`${this.id} exited while waiting for ${what}: ${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`${this.id}: no ${what} within ${timeoutMs} ms; stderr: ${this.stderr}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 200);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
      this.waiters = [];
    }
  }

  count(type: string, from = 0): number {
    return this.lines.slice(from).filter((l) => l.type === type).length;
  }

  get version(): string | undefined {
    return [...this.lines].reverse().find((l) => l.type === 'model' || l.type === 'ready')?.version;
  }

  get errors(): number {
    return [...this.lines].reverse().find((l) => l.type === 'stats')?.errors ?? 0;
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGTERM');
    await this.exited;
  }
}

function signedBundle(version: string): string {
  const dir = bundleCopy(version);
  sign(dir, key);
  return dir;
}

const push = (broker: Mosquitto, bundle: string, to: string, timeoutS = 60): Promise<number> =>
  modelPushCommand([bundle, '--to', to, '--mqtt-url', broker.url, '--base-topic', BASE, '--timeout-s', String(timeoutS)], silentLogger);

async function started(p: AgentProcess): Promise<AgentProcess> {
  await p.until('ready and 2 results', (l) => l.some((x) => x.type === 'ready') && l.filter((x) => x.type === 'result').length >= 2, 120_000);
  return p;
}

if (!mosquittoAvailable()) {
  test('mosquitto is installed (apt-get install mosquitto)', (t) => t.fail('mosquitto not found: end-to-end update tests need a real broker'));
} else {
  let broker: Mosquitto;
  const procs: AgentProcess[] = [];
  const agent = (id: string, opts: Record<string, unknown>): AgentProcess => {
    const p = new AgentProcess(id, { groups: [], stateDir: tempDir(`fer-${id}-`), brokerUrl: broker.url, ...opts });
    procs.push(p);
    return p;
  };
  test.before(async () => {
    broker = await startMosquitto();
  });
  test.after.always(async () => {
    for (const p of procs) await p.stop();
    await broker?.stop();
  });

  test.serial('two agents: a push to one changes only it, while it keeps producing results and events; all reaches both; rollback', async (t) => {
    const [a, b] = await Promise.all([started(agent('e2e-a', { groups: ['kitchen'] })), started(agent('e2e-b', {}))]);
    t.is(a.version, '0.0.0');
    t.true(a.lines.some((l) => l.type === 'result' && (l.faces ?? 0) > 0), 'the sample frames have faces');

    const mark = a.lines.length;
    t.is(await push(broker, signedBundle('1.0.0'), 'e2e-a'), 0);
    t.is(a.version, '1.0.0');
    t.is(b.version, '0.0.0');
    t.is(b.count('model'), 0, 'the other agent never swapped');
    // After the swap the agent goes on: more frames with faces, fresh events from the new model.
    const swapAt = a.lines.findIndex((l, i) => i >= mark && l.type === 'model');
    await a.until('results and events after the swap', (l) => l.slice(swapAt).filter((x) => x.type === 'result').length >= 4 && l.slice(swapAt).some((x) => x.type === 'event'));
    await a.until('stats after the swap', (l) => l.slice(swapAt).some((x) => x.type === 'stats'));
    t.is(a.errors, 0, 'no frame failed around the swap');
    const seqs = a.lines.filter((l) => l.type === 'result').map((l) => l.seq!);
    t.true(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!), 'frames keep coming in order');

    t.is(await push(broker, signedBundle('1.1.0'), 'all'), 0);
    t.is(a.version, '1.1.0');
    t.is(b.version, '1.1.0');
    t.is(await push(broker, signedBundle('1.2.0'), 'kitchen'), 0);
    t.is(a.version, '1.2.0');
    t.is(b.version, '1.1.0');

    t.is(await modelRollbackCommand(['--agent', 'e2e-a', '--mqtt-url', broker.url, '--base-topic', BASE, '--timeout-s', '60'], silentLogger), 0);
    t.is(a.version, '1.1.0');
    t.is(b.version, '1.1.0');
    const afterRollback = a.lines.length;
    await a.until('results after the rollback', (l) => l.slice(afterRollback).filter((x) => x.type === 'result').length >= 2);
    t.is(a.errors, 0);
  });

  // Before the hot swap (tree-synced) and after it but before the pointer rename (pointer-temp-written).
  test.serial('after the broker restarts, the agent reconnects on its own and still accepts a pushed model', async (t) => {
    const a = await started(agent('e2e-restart', {}));
    const mark = a.lines.length;
    await broker.restart();
    await a.until('the update connection back after the broker restart', (l) => l.slice(mark).some((x) => x.type === 'connected'));
    t.is(await push(broker, signedBundle('1.0.0'), 'e2e-restart'), 0);
    t.is(a.version, '1.0.0');
  });

  for (const [step, swaps] of [['tree-synced', 1], ['pointer-temp-written', 2]] as Array<[StoreStep, number]>) {
    test.serial(`an agent killed mid-install (at ${step}) restarts on the previous model, and the update can be pushed again`, async (t) => {
      const stateDir = tempDir('fer-e2e-kill-');
      const id = `e2e-kill-${step.split('-')[0]}`;
      // The second install reaching `step` kills the process.
      const c = await started(agent(id, { stateDir, killStep: step, killOn: 2 }));
      t.is(await push(broker, signedBundle('1.0.0'), id), 0);
      t.is(c.version, '1.0.0');
      t.is(await push(broker, signedBundle('2.0.0'), id, 3), 2, 'no answer: the agent died');
      t.deepEqual(await c.exited, { code: null, signal: 'SIGKILL' });
      t.is(c.count('model'), swaps, 'swaps the killed agent made (the second only in memory)');

      const again = await started(agent(id, { stateDir }));
      t.deepEqual(again.lines.find((l) => l.type === 'ready'), { type: 'ready', version: '1.0.0', source: 'installed' });
      t.is(await push(broker, signedBundle('2.0.0'), id), 0);
      t.is(again.version, '2.0.0');
      t.is(await modelRollbackCommand(['--agent', id, '--mqtt-url', broker.url, '--base-topic', BASE], silentLogger), 0);
      t.is(again.version, '1.0.0');
      await again.stop();
      // The rollback is durable too.
      const third = await started(agent(id, { stateDir }));
      t.is(third.lines.find((l) => l.type === 'ready')?.version, '1.0.0');
    });
  }
}
