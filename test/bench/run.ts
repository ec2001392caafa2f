/**
 * `npm run bench`: classifier, pipeline and many-agents benchmarks in one run. Prints markdown tables and writes
 * test-artifacts/bench.json and test-artifacts/bench.md (or --out DIR).
 *
 *   node dist/test/bench/run.js [--quick] [--out DIR] [--fer fer2013.csv.gz] [--only classifier,pipeline,scaling] [--no-mqtt]
 *                               [--model BUNDLE_DIR] [--no-accuracy]
 *
 * --model benches another bundle (a candidate release) as "ours" in the classifier part, beside the same peers, so
 * that a release rule's speed target is one command (with --no-accuracy, which scores no model: a release is benched
 * before its rule decides, and its PublicTest figure comes after); the pipeline part always runs the agent's configured model.
 * --quick runs every part with tiny counts (seconds, not minutes): the smoke test calls it so this code keeps
 * working; its numbers mean nothing. FER2013 is read at run time from ../shared/datasets/fer2013 (or --fer); when
 * it is absent the accuracy column is skipped with a note.
 */
import { readCpuClass } from '../../agent/core/cpu-class.js';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../agent/config/load.js';
import { packageRoot } from '../../agent/core/paths.js';
import { probeAll } from '../../agent/engines/select.js';
import { mosquittoAvailable, startMosquitto, type Mosquitto } from '../helpers/mosquitto.js';
import { MessageLog, ProcSampler, findBrokerPid, type LoggedMessage } from './broker-watch.js';
import { runChild } from './child.js';
import type { ClassifierBenchOptions, ClassifierBenchResult } from './classifier-bench.js';
import { FACE_COUNTS, benchFrames } from './frames.js';
import type { PipelineBenchOptions, PipelineBenchResult } from './pipeline-bench.js';
import { PIPELINE_CONFIGS } from './pipeline-bench.js';
import { renderMarkdown, type BenchReport, type MqttLatency, type PipelineRow, type ScalingPhase } from './report.js';
import type { ScalingChildResult, ScalingOptions } from './scaling-bench.js';
import { quantile } from './stats.js';

export const DEFAULT_FER = path.resolve(packageRoot, '..', 'shared', 'datasets', 'fer2013', 'fer2013.csv.gz');
const SECTIONS = ['classifier', 'pipeline', 'scaling'] as const;
type Section = (typeof SECTIONS)[number];

interface Plan {
  classifier: Omit<ClassifierBenchOptions, 'fer'>;
  pipeline: Omit<PipelineBenchOptions, 'config' | 'framesDir' | 'mqttUrl' | 'agentId'>;
  scaling: Array<{ name: string } & Omit<ScalingOptions, 'mqttUrl' | 'prefix'>>;
}

function plan(quick: boolean, threads: number): Plan {
  if (quick) {
    return {
      classifier: { usage: 'PublicTest', threads, batches: [1, 8], seconds: 0, minCalls: 1, warmupCalls: 1, accuracyLimit: 32, accuracyBatch: 16 },
      pipeline: { faceCounts: [...FACE_COUNTS], warmupFrames: 1, maxFrames: 2, minFrames: 2, seconds: 0, appearAfterS: 0.3 },
      scaling: [{ name: 'smoke', agents: 2, seconds: 1, fps: 5, eventEveryMs: 400, stateMinIntervalMs: 1000 }],
    };
  }
  return {
    classifier: { usage: 'PublicTest', threads, batches: [1, 8, 64], seconds: 3, minCalls: 5, warmupCalls: 3, accuracyLimit: null, accuracyBatch: 64 },
    pipeline: { faceCounts: [...FACE_COUNTS], warmupFrames: 10, maxFrames: 400, minFrames: 20, seconds: 8, appearAfterS: 5 },
    scaling: [
      { name: 'agent defaults', agents: 20, seconds: 15, fps: 5, eventEveryMs: 3000, stateMinIntervalMs: 1000 },
      { name: 'state on every frame', agents: 20, seconds: 10, fps: 30, eventEveryMs: 3000, stateMinIntervalMs: 0 },
    ],
  };
}

function latency(msgs: readonly LoggedMessage[]): MqttLatency | null {
  const xs = msgs.filter((m) => m.ts !== undefined).map((m) => m.at - m.ts!);
  return xs.length ? { n: xs.length, p50: quantile(xs, 0.5), p95: quantile(xs, 0.95) } : null;
}

async function classifierSection(p: Plan, fer: string, modelDir: string | undefined, noAccuracy: boolean): Promise<ClassifierBenchResult> {
  process.stderr.write(`bench: classifiers (${fer}${modelDir ? `; ours: ${modelDir}` : ''}${noAccuracy ? '; speed only' : ''})\n`);
  return runChild<ClassifierBenchOptions, ClassifierBenchResult>(new URL('./classifier-bench.js', import.meta.url), { ...p.classifier, fer, noAccuracy, ...(modelDir ? { modelDir } : {}) });
}

async function pipelineSection(p: Plan, broker: Mosquitto | undefined): Promise<PipelineRow[]> {
  const framesDir = await mkdtemp(path.join(os.tmpdir(), 'fer-bench-frames-'));
  const watch = broker ? await MessageLog.start(broker.url, ['fer/#']) : undefined;
  try {
    const sets = await benchFrames();
    for (const n of FACE_COUNTS) {
      await mkdir(path.join(framesDir, String(n)));
      await Promise.all(sets[n].map((b, i) => writeFile(path.join(framesDir, String(n), `${String(i).padStart(4, '0')}.jpg`), b)));
    }
    const rows: PipelineRow[] = [];
    for (const spec of PIPELINE_CONFIGS) {
      process.stderr.write(`bench: pipeline ${spec.id}\n`);
      const agentId = `bench-${spec.id}`;
      const r = await runChild<PipelineBenchOptions, PipelineBenchResult>(new URL('./pipeline-bench.js', import.meta.url), {
        ...p.pipeline,
        config: spec.id,
        framesDir,
        mqttUrl: broker && spec.detector !== 'faceapi-baseline' ? broker.url : '',
        agentId,
      });
      // Messages still in flight at the end of a window arrive a little later.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const mqttLatency: Record<string, MqttLatency | null> = {};
      for (const s of r.sets.filter((x) => !x.scene)) {
        const [from, to] = s.windowWall;
        const prefix = `fer/${agentId}/${s.cameraId}/`;
        mqttLatency[String(s.faces)] = r.mqtt && watch ? latency(watch.between(from, to + 2000, (m) => m.topic.startsWith(prefix) && m.ts !== undefined && m.ts >= from && m.ts <= to)) : null;
      }
      rows.push({ ...r, mqttLatency });
    }
    return rows;
  } finally {
    await watch?.stop();
    await rm(framesDir, { recursive: true, force: true });
  }
}

async function scalingSection(p: Plan, broker: Mosquitto): Promise<ScalingPhase[]> {
  const watch = await MessageLog.start(broker.url, ['fer/#', 'homeassistant/#']);
  const pid = findBrokerPid(broker.dir);
  const sampler = pid ? new ProcSampler(pid) : undefined;
  const phases: ScalingPhase[] = [];
  try {
    for (const [i, ph] of p.scaling.entries()) {
      process.stderr.write(`bench: scaling "${ph.name}" (${ph.agents} agents, ${ph.seconds} s)\n`);
      const prefix = `sim${i}`;
      const { name, ...opts } = ph;
      const r = await runChild<ScalingOptions, ScalingChildResult>(new URL('./scaling-bench.js', import.meta.url), { ...opts, mqttUrl: broker.url, prefix });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const [from, to] = r.windowWall;
      const mine = (m: LoggedMessage): boolean => m.topic.includes(`/${prefix}-`) || m.topic.includes(`${prefix}-`);
      const inWindow = watch.between(from, to, mine);
      const seconds = (to - from) / 1000;
      const byKind: Record<string, number> = {};
      for (const m of inWindow) {
        const kind = m.topic.startsWith('homeassistant/') ? 'discovery' : (m.topic.split('/').pop() ?? 'other');
        byKind[kind] = (byKind[kind] ?? 0) + 1;
      }
      const events = watch.between(from, to + 5000, (m) => mine(m) && m.topic.endsWith('/event') && m.ts !== undefined && m.ts >= from && m.ts <= to);
      const eventKeys = events.map((m) => `${m.topic}@${m.ts}`);
      const states = inWindow.filter((m) => m.topic.endsWith('/state'));
      const brokerUse = sampler?.over(from, to);
      phases.push({
        name,
        agents: ph.agents,
        fps: ph.fps,
        stateMinIntervalMs: ph.stateMinIntervalMs,
        eventEveryMs: ph.eventEveryMs,
        seconds,
        messagesPerS: inWindow.length / seconds,
        kibPerS: inWindow.reduce((a, m) => a + m.bytes, 0) / 1024 / seconds,
        byKind,
        eventsSent: r.eventsSent,
        eventsReceived: new Set(eventKeys).size,
        eventsDuplicated: eventKeys.length - new Set(eventKeys).size,
        eventLatency: latency(events),
        stateLatency: latency(states),
        brokerCpuPercent: brokerUse?.cpuPercent ?? null,
        brokerRssMiB: brokerUse?.rssMiB ?? null,
        agentsCpuPercent: (100 * r.cpuMs) / (to - from),
        agentsPeakRssMiB: r.peakRssMiB,
      });
    }
  } finally {
    sampler?.stop();
    await watch.stop();
  }
  return phases;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      out: { type: 'string' },
      fer: { type: 'string' },
      only: { type: 'string' },
      'no-mqtt': { type: 'boolean', default: false },
      model: { type: 'string' },
      'no-accuracy': { type: 'boolean', default: false },
    },
  });
  const quick = values.quick === true;
  const out = path.resolve(values.out ?? path.join(packageRoot, 'test-artifacts'));
  const fer = path.resolve(values.fer ?? process.env.FER2013_CSV ?? DEFAULT_FER);
  const only = (values.only?.split(',').map((s) => s.trim()).filter(Boolean) ?? [...SECTIONS]) as Section[];
  for (const s of only) if (!SECTIONS.includes(s)) throw new Error(`--only: unknown section ${s}; known: ${SECTIONS.join(', ')}`);
  const modelDir = values.model === undefined ? undefined : path.resolve(values.model);
  if (modelDir !== undefined && !existsSync(path.join(modelDir, 'manifest.json'))) throw new Error(`--model ${modelDir}: no manifest.json there (a model bundle directory is expected)`);
  const noAccuracy = values['no-accuracy'] === true;
  const threads = loadConfig({ skipDefaultFile: true, env: {} }).threads;
  const p = plan(quick, threads);
  const report: BenchReport = {
    environment: {
      date: new Date().toISOString(),
      node: process.versions.node,
      cpu: os.cpus()[0]?.model ?? 'unknown CPU',
      cpuClass: readCpuClass(),
      cores: os.cpus().length,
      loadAvgStart: os.loadavg(),
      engines: await probeAll(),
      quick,
      command: `npm run bench${quick || modelDir || noAccuracy ? ' --' : ''}${quick ? ' --quick' : ''}${modelDir ? ` --model ${modelDir}` : ''}${noAccuracy ? ' --no-accuracy' : ''}`,
    },
    notes: [],
  };
  const needBroker = !values['no-mqtt'] && (only.includes('pipeline') || only.includes('scaling'));
  let broker: Mosquitto | undefined;
  if (needBroker) {
    if (mosquittoAvailable()) broker = await startMosquitto();
    else report.notes.push('Mosquitto is not installed (apt-get install mosquitto): MQTT latency and the many-agents part were skipped.');
  }
  try {
    if (only.includes('classifier')) report.classifier = await classifierSection(p, fer, modelDir, noAccuracy);
    if (only.includes('pipeline')) report.pipeline = await pipelineSection(p, broker);
    if (only.includes('scaling')) report.scaling = broker ? await scalingSection(p, broker) : { skipped: 'no broker (Mosquitto missing or --no-mqtt)' };
  } finally {
    await broker?.stop();
  }
  report.environment.loadAvgEnd = os.loadavg();
  if (os.loadavg()[0]! > os.cpus().length * 0.75) report.notes.push(`The machine was busy (load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores): absolute numbers are lower than on an idle machine; CPU ms/frame is the steadier figure.`);
  const md = renderMarkdown(report);
  await mkdir(out, { recursive: true });
  await writeFile(path.join(out, 'bench.json'), JSON.stringify(report, null, 2) + '\n');
  await writeFile(path.join(out, 'bench.md'), md);
  process.stdout.write(md);
  process.stderr.write(`bench: wrote ${path.join(out, 'bench.json')} and bench.md\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
