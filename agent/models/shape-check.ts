/**
 * Reads the input/output shapes a model file declares and compares them with the manifest, so a bundle whose
 * manifest says 48x48x1 but whose network wants 64x64x3 is rejected as `model_shape_mismatch` with both shapes
 * named, before any inference runs. Dynamic dimensions (names, -1, null) match anything.
 */
import '../engines/ort-privacy.js'; // before onnxruntime-node loads: no telemetry (see ort-privacy.ts)
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { FerError, errorMessage } from '../core/errors.js';
import type { Manifest, OnnxEngineEntry } from './manifest.js';

type Dim = number | string | null;

function fmt(shape: readonly Dim[]): string {
  return `[${shape.map((d) => (typeof d === 'number' && d >= 0 ? String(d) : '?')).join(',')}]`;
}

function matches(declared: readonly Dim[], wanted: readonly (number | null)[]): boolean {
  if (declared.length !== wanted.length) return false;
  return declared.every((d, i) => wanted[i] === null || typeof d !== 'number' || d < 0 || d === wanted[i]);
}

function check(what: string, declared: readonly Dim[], wanted: readonly (number | null)[], file: string): void {
  if (!matches(declared, wanted)) {
    throw new FerError('model_shape_mismatch', `${file}: ${what} shape ${fmt(declared)} does not match the manifest's ${fmt(wanted.map((w) => w ?? -1))}`);
  }
}

async function checkOnnx(dir: string, m: Manifest, e: OnnxEngineEntry): Promise<void> {
  const file = path.join(dir, e.file);
  const ort = await import('onnxruntime-node');
  let session;
  try {
    session = await ort.InferenceSession.create(file, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  } catch (err) {
    throw new FerError('model_invalid', `${e.file} does not load on onnxruntime: ${errorMessage(err)}`);
  }
  try {
    if (!session.inputNames.includes(e.input)) throw new FerError('model_shape_mismatch', `${e.file} has no input ${JSON.stringify(e.input)} (it has ${session.inputNames.join(', ')})`);
    if (!session.outputNames.includes(e.output)) throw new FerError('model_shape_mismatch', `${e.file} has no output ${JSON.stringify(e.output)} (it has ${session.outputNames.join(', ')})`);
    const inMeta = session.inputMetadata[session.inputNames.indexOf(e.input)];
    const outMeta = session.outputMetadata[session.outputNames.indexOf(e.output)];
    if (inMeta?.isTensor) check('input', inMeta.shape, [null, m.input.channels, m.input.height, m.input.width], e.file);
    if (outMeta?.isTensor) check('output', outMeta.shape, [null, m.labels.length], e.file);
  } finally {
    await session.release();
  }
}

/** TF.js LayersModel topology: the InputLayer's batch_input_shape, and the last layer's units when it says so. */
async function checkTfjs(dir: string, m: Manifest): Promise<void> {
  const e = m.engines.tfjs!;
  let topo: unknown;
  try {
    topo = JSON.parse(await readFile(path.join(dir, e.file), 'utf8'));
  } catch (err) {
    throw new FerError('model_invalid', `${e.file} is not readable JSON: ${errorMessage(err)}`);
  }
  const layers = findLayers(topo);
  if (!layers) return;
  for (const l of layers) {
    const shape = (l.config as { batch_input_shape?: unknown; batchInputShape?: unknown } | undefined)?.batch_input_shape ??
      (l.config as { batchInputShape?: unknown } | undefined)?.batchInputShape;
    if (Array.isArray(shape)) {
      check('input', shape as Dim[], [null, m.input.height, m.input.width, m.input.channels], e.file);
      break;
    }
  }
  const lastUnits = (layers[layers.length - 1]?.config as { units?: unknown } | undefined)?.units;
  if (typeof lastUnits === 'number') check('output', [null, lastUnits], [null, m.labels.length], e.file);
}

function findLayers(topo: unknown): Array<{ config?: unknown }> | null {
  const t = topo as { modelTopology?: { config?: { layers?: unknown }; model_config?: { config?: { layers?: unknown } } } };
  const layers = t?.modelTopology?.config?.layers ?? t?.modelTopology?.model_config?.config?.layers;
  return Array.isArray(layers) ? (layers as Array<{ config?: unknown }>) : null;
}

/** Checks the declared shapes of the file the given concrete engine will load. Unknown engines are skipped. */
export async function checkDeclaredShapes(dir: string, m: Manifest, engine: string): Promise<void> {
  if (engine === 'onnxruntime') {
    // Both forms: `model.precision` may be changed later, and a bundle must not carry an int8 model that is wrong.
    if (m.engines.onnx) await checkOnnx(dir, m, m.engines.onnx);
    if (m.engines.onnx_int8) await checkOnnx(dir, m, m.engines.onnx_int8);
  }
  else if ((engine === 'tfjs-node' || engine === 'tfjs-wasm') && m.engines.tfjs) await checkTfjs(dir, m);
}
