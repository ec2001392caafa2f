/**
 * What the user gave `fer-agent eval`, and whether it fits the mode asked for (pure: the facts are gathered by the
 * command). `--data` scores face crops (FER2013 CSV rows, or label subfolders of crops); `--frames` runs whole frames
 * through the detector. Every wrong fit is refused with what the mode expects and the command that fits.
 */
import { nearest } from '../core/nearest.js';

export interface PathFacts {
  exists: boolean;
  isDir: boolean;
  /** Subfolder names (folders only). */
  subdirs: string[];
  /** Image files directly in the folder (not in subfolders). */
  topImages: number;
  /** Images in label subfolders, and the median of their shorter side in pixels (from a sample). */
  labelImages: number;
  medianShortSide: number | null;
}

export const EVAL_HELP =
  'usage: fer-agent eval --data <fer2013.csv[.gz] | dir> [--usage PublicTest] [--crops] [--engine E] [--model DIR] [--batch 64] [--limit N]\n' +
  '       fer-agent eval --frames <dir> [--engine E] [--model DIR] [--set detection.KEY=V] [--limit N]\n' +
  '  --data FILE: FER2013 rows (emotion,pixels,Usage), scored on the rows whose Usage is --usage\n' +
  '  --data DIR:  one subfolder per label (happy/, sad/, ...) of face crops, scored as they are (no detector)\n' +
  '  --frames DIR: one subfolder per label of whole frames: the detector finds the face first, a missed face counts\n' +
  '               as wrong; a file name ending _b<x>-<y>-<w>-<h>.jpg marks the true face box (optional)\n';

/** Crops for --data are about the model's input size; a folder whose images are this many times larger holds photos. */
const PHOTO_FACTOR = 4;

/** Null when the path fits the mode; else the message that says what the mode expects and what to run instead. */
export function evalInputProblem(mode: 'data' | 'frames', p: string, f: PathFacts, labels: readonly string[], inputSide: number, crops = false): string | null {
  const flag = `--${mode}`;
  const layout = `one subfolder per label (${labels.join(', ')})`;
  if (!f.exists) return `${flag} ${p}: no such file or folder`;
  if (mode === 'frames' && !f.isDir) return `${flag} ${p} is a file; --frames needs a folder with ${layout} of whole frames (a FER2013 CSV goes to --data)`;
  if (!f.isDir) return null; // a CSV for --data: its rows are checked as they are read
  const unknown = f.subdirs.filter((d) => !labels.includes(d));
  if (unknown.length > 0) {
    const near = nearest(unknown[0]!, labels);
    return `${flag} ${p}: subfolder ${JSON.stringify(unknown[0])} is not a model label${near ? ` (did you mean ${near}?)` : ''}; expected ${layout}`;
  }
  if (f.labelImages === 0) {
    return f.topImages > 0
      ? `${flag} ${p} is a flat folder of ${f.topImages} image${f.topImages === 1 ? "" : "s"}: the label of each image comes from its subfolder, so put them in ${layout}`
      : `${flag} ${p}: no images in ${layout}`;
  }
  if (mode === 'data' && !crops && f.medianShortSide !== null && f.medianShortSide > PHOTO_FACTOR * inputSide) {
    return `--data ${p}: these look like whole photos (median shorter side ${f.medianShortSide} px; face crops are about the model's ${inputSide}x${inputSide} input). ` +
      `Use --frames ${p} to find the faces first, or add --crops to score them as face crops anyway`;
  }
  return null;
}
