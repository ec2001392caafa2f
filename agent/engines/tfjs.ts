/**
 * TensorFlow.js initialisation for the fallback engines. One backend per process: tfjs-node when installed,
 * else the wasm backend with its .wasm files read from node_modules (no network).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as TfCore from '@tensorflow/tfjs-core';
import { FerError, errorMessage } from '../core/errors.js';

export type Tf = typeof TfCore;
const require = createRequire(import.meta.url);
let ready: Promise<Tf> | undefined;
let readyEngine: string | undefined;

export async function initTfjs(engine: 'tfjs-node' | 'tfjs-wasm', threads: number): Promise<Tf> {
  if (ready) {
    if (readyEngine !== engine) throw new FerError('engine_unavailable', `tfjs already initialised as ${readyEngine}; cannot switch to ${engine} in one process`);
    return ready;
  }
  readyEngine = engine;
  ready = (async () => {
    const tf = (await import('@tensorflow/tfjs-core')) as Tf;
    await import('@tensorflow/tfjs-layers');
    if (engine === 'tfjs-node') {
      const name = '@tensorflow/tfjs-node';
      await import(name);
      await tf.setBackend('tensorflow');
    } else {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
      wasm.setWasmPaths(dir + path.sep);
      // The threaded build needs worker-based pthreads that Node's wasm loader here does not start; SIMD is used.
      wasm.setThreadsCount(Math.max(1, threads));
      const ok = await tf.setBackend('wasm');
      if (!ok) throw new Error('tf.setBackend("wasm") returned false');
    }
    await tf.ready();
    return tf;
  })().catch((err: unknown) => {
    ready = undefined;
    readyEngine = undefined;
    throw new FerError('engine_unavailable', `${engine} failed to initialise: ${errorMessage(err)}`);
  });
  return ready;
}
