/**
 * What a levelled crop costs (detection.roll_align): the agent's Preprocessor cutting one face from a 640x480 RGB
 * frame into the shipped model's 48x48 gray input, upright and turned by 20 degrees, side by side at three face sizes.
 * Pure JavaScript, so it runs in the classifier child beside the models.
 */
import type { Frame } from '../../agent/core/types.js';
import type { ModelSpec } from '../../agent/emotion/classifier.js';
import { Preprocessor } from '../../agent/emotion/preprocess.js';

export interface CropCostRow {
  faceSide: number;
  uprightUs: number;
  levelledUs: number;
}

const ROLL = (20 * Math.PI) / 180;

function noiseFrame(width: number, height: number): Frame {
  const data = new Uint8Array(width * height * 3);
  let x = 99;
  for (let i = 0; i < data.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    data[i] = x >>> 24;
  }
  return { cameraId: 'bench', seq: 0, monoMs: 0, wallMs: 0, width, height, channels: 3, data };
}

/** Microseconds per crop, upright and levelled, alternating in rounds so that a busy machine slows both alike. */
export function measureCropCost(spec: ModelSpec, calls: number, rounds = 5, sides: readonly number[] = [60, 120, 200]): CropCostRow[] {
  const frame = noiseFrame(640, 480);
  const pre = new Preprocessor(spec);
  return sides.map((side) => {
    const box = [{ x: 200, y: 120, width: side, height: side }];
    const time = (roll: number): number => {
      const t0 = performance.now();
      for (let i = 0; i < calls; i++) pre.run(frame, box, [roll]);
      return performance.now() - t0;
    };
    time(0);
    time(ROLL);
    let upright = 0;
    let levelled = 0;
    for (let r = 0; r < rounds; r++) {
      upright += time(0);
      levelled += time(ROLL);
    }
    const per = 1000 / (calls * rounds);
    return { faceSide: side, uprightUs: upright * per, levelledUs: levelled * per };
  });
}
