/**
 * Engine selection. `auto` takes onnxruntime-node where its native binary loads (linux x64/arm64: Pi 4/5 64-bit,
 * Jetson, x86), else @tensorflow/tfjs-node where installed (optional), else @tensorflow/tfjs-backend-wasm (anywhere
 * Node runs, e.g. 32-bit Raspberry Pi OS). Each probe records why an engine was not taken, for logs and `doctor`.
 */
import './ort-privacy.js'; // before onnxruntime-node loads: no telemetry (see ort-privacy.ts)
import type { EngineName } from '../config/schema.js';
import { FerError, errorMessage } from '../core/errors.js';

export type ConcreteEngine = Exclude<EngineName, 'auto'>;
export const ENGINE_ORDER: readonly ConcreteEngine[] = ['onnxruntime', 'tfjs-node', 'tfjs-wasm'];

export interface EngineProbe {
  engine: ConcreteEngine;
  ok: boolean;
  /** Why it cannot be used (when !ok), or its version (when ok). */
  detail: string;
}

export interface EngineChoice {
  engine: ConcreteEngine;
  probes: EngineProbe[];
}

async function probe(engine: ConcreteEngine): Promise<EngineProbe> {
  try {
    if (engine === 'onnxruntime') {
      const ort = await import('onnxruntime-node');
      // Importing loads the native binding; listing backends proves it initialised.
      return { engine, ok: true, detail: `onnxruntime-node ${ort.env.versions?.node ?? ort.env.versions?.common ?? ''}`.trim() };
    }
    if (engine === 'tfjs-node') {
      const name = '@tensorflow/tfjs-node';
      const mod = (await import(name)) as { version?: Record<string, string> };
      return { engine, ok: true, detail: `tfjs-node ${mod.version?.['tfjs-node'] ?? ''}`.trim() };
    }
    const { initTfjs } = await import('./tfjs.js');
    const tf = await initTfjs('tfjs-wasm', 1);
    return { engine, ok: true, detail: `tfjs-backend-wasm ${tf.version_core}` };
  } catch (err) {
    return { engine, ok: false, detail: errorMessage(err).split('\n')[0] ?? 'failed to load' };
  }
}

/** Resolves `requested` to an engine that loads here, or throws naming why the requested one does not. */
export async function selectEngine(requested: EngineName): Promise<EngineChoice> {
  const probes: EngineProbe[] = [];
  const order = requested === 'auto' ? ENGINE_ORDER : [requested];
  for (const engine of order) {
    const p = await probe(engine);
    probes.push(p);
    if (p.ok) return { engine, probes };
  }
  const why = probes.map((p) => `${p.engine}: ${p.detail}`).join('; ');
  throw new FerError('engine_unavailable', `engine ${requested} cannot be used here (${why})`);
}

/** Probes every engine (for `doctor`), without stopping at the first that works. */
export async function probeAll(): Promise<EngineProbe[]> {
  const out: EngineProbe[] = [];
  for (const e of ENGINE_ORDER) out.push(await probe(e));
  return out;
}
