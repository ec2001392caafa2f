/**
 * Session options for every onnxruntime session of the agent (classifier and CenterFace). Types only: importing this
 * module must not load onnxruntime-node, so the tfjs fallback still starts where its native binary is missing.
 */
import type * as Ort from 'onnxruntime-node';

/**
 * Sequential execution, one inter-op thread, intra-op threads from config. Idle intra-op threads must not spin: the
 * frame loop's own work (decode, preprocessing, MQTT) runs between runs on the same few cores.
 */
export function sessionOptions(threads: number): Ort.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: Math.max(1, threads),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
}
