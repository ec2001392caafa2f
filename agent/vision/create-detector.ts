/**
 * Picks and loads a camera's face detector. `auto`: CenterFace when the engine is onnxruntime, else face-api's
 * tiny detector on the tfjs engine already chosen for the classifier (one tfjs backend per process).
 */
import type { PrecisionCache } from '../engines/precision-choice.js';
import type { DetectionConfig } from '../config/schema.js';
import type { Logger } from '../core/log.js';
import type { ConcreteEngine } from '../engines/select.js';
import { initTfjs } from '../engines/tfjs.js';
import { createCenterFaceDetector } from './centerface-detector.js';
import type { FaceDetector } from './face-detector.js';
import { createFaceApiDetector } from './faceapi-detector.js';

export type ConcreteDetector = 'centerface' | 'tiny' | 'ssd';

export function resolveDetector(detection: Pick<DetectionConfig, 'detector'>, engine: ConcreteEngine | string): ConcreteDetector {
  if (detection.detector !== 'auto') return detection.detector;
  return engine === 'onnxruntime' ? 'centerface' : 'tiny';
}

export async function createDetector(detection: DetectionConfig, engine: ConcreteEngine | string, threads: number, log: Logger, precisionCache: PrecisionCache | null = null): Promise<FaceDetector> {
  const which = resolveDetector(detection, engine);
  log.debug({ detector: which, engine }, 'loading face detector');
  if (which === 'centerface') return createCenterFaceDetector({ detection, threads, logger: log, precisionCache });
  // face-api runs on tfjs: reuse the classifier's tfjs engine, or start the wasm one when the classifier is on onnxruntime.
  await initTfjs(engine === 'tfjs-node' ? 'tfjs-node' : 'tfjs-wasm', threads);
  return createFaceApiDetector({ detection, model: which, logger: log });
}
