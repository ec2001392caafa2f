/**
 * The `fer-agent classify` output line, parsed and compared between two runs (x64 and arm64). Pure: no I/O.
 */

export interface ClassifiedBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface ClassifiedFace {
  box: ClassifiedBox;
  score: number;
  emotion: string;
  probabilities: Record<string, number>;
}

export interface ClassifyLine {
  file: string;
  engine: string;
  model: string;
  faces: ClassifiedFace[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function num(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`classify output: ${what} is not a finite number`);
  return v;
}

function parseFace(v: unknown, i: number): ClassifiedFace {
  if (!isRecord(v) || !isRecord(v.box) || !isRecord(v.probabilities) || typeof v.emotion !== 'string') {
    throw new Error(`classify output: faces[${i}] lacks box, emotion or probabilities`);
  }
  const b = v.box;
  const probabilities: Record<string, number> = {};
  for (const [k, p] of Object.entries(v.probabilities)) probabilities[k] = num(p, `faces[${i}].probabilities.${k}`);
  return {
    box: { x: num(b.x, `faces[${i}].box.x`), y: num(b.y, `faces[${i}].box.y`), width: num(b.width, `faces[${i}].box.width`), height: num(b.height, `faces[${i}].box.height`) },
    score: num(v.score, `faces[${i}].score`),
    emotion: v.emotion,
    probabilities,
  };
}

/** The result line of a one-image `classify` run: the last stdout line that is a JSON object with `faces`. */
export function parseClassifyOutput(stdout: string): ClassifyLine {
  const lines = stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('{'));
  for (let i = lines.length - 1; i >= 0; i--) {
    let v: unknown;
    try {
      v = JSON.parse(lines[i]!);
    } catch {
      continue;
    }
    if (!isRecord(v)) continue;
    if (typeof v.error === 'string') throw new Error(`classify failed on ${String(v.file)}: ${v.error}`);
    if (!Array.isArray(v.faces)) continue;
    if (typeof v.file !== 'string' || typeof v.engine !== 'string' || typeof v.model !== 'string') {
      throw new Error('classify output: the result line lacks file, engine or model');
    }
    return { file: v.file, engine: v.engine, model: v.model, faces: v.faces.map(parseFace) };
  }
  throw new Error(`classify output: no result line in ${JSON.stringify(stdout.slice(-500))}`);
}

/**
 * Where `got` differs from `ref`: one line per difference, empty when they agree. Scores and probabilities must be
 * within `tolerance`; the CLI prints them rounded to 4 and 6 decimals, so a hair (1e-9) is added for the decimal
 * to binary conversion (0.8989 - 0.8988 is 1.00000000000655e-4). Boxes are printed as whole pixels: a coordinate
 * right at .5 may round either way, so one pixel is allowed.
 */
export function compareClassify(ref: ClassifyLine, got: ClassifyLine, tolerance: number, boxPx = 1): string[] {
  const diffs: string[] = [];
  const near = (a: number, b: number, tol: number): boolean => Math.abs(a - b) <= tol + 1e-9;
  for (const key of ['file', 'engine', 'model'] as const) {
    if (ref[key] !== got[key]) diffs.push(`${key}: ${ref[key]} vs ${got[key]}`);
  }
  if (ref.faces.length !== got.faces.length) {
    diffs.push(`faces: ${ref.faces.length} vs ${got.faces.length}`);
    return diffs;
  }
  ref.faces.forEach((r, i) => {
    const g = got.faces[i]!;
    if (r.emotion !== g.emotion) diffs.push(`faces[${i}].emotion: ${r.emotion} vs ${g.emotion}`);
    if (!near(r.score, g.score, tolerance)) diffs.push(`faces[${i}].score: ${r.score} vs ${g.score}`);
    for (const k of ['x', 'y', 'width', 'height'] as const) {
      if (!near(r.box[k], g.box[k], boxPx)) diffs.push(`faces[${i}].box.${k}: ${r.box[k]} vs ${g.box[k]}`);
    }
    const labels = new Set([...Object.keys(r.probabilities), ...Object.keys(g.probabilities)]);
    for (const l of labels) {
      const a = r.probabilities[l];
      const b = g.probabilities[l];
      if (a === undefined || b === undefined || !near(a, b, tolerance)) diffs.push(`faces[${i}].probabilities.${l}: ${a} vs ${b}`);
    }
  });
  return diffs;
}

/** The largest differences between two runs over every face they both hold (what the tests log as "measured"). */
export function largestDiffs(ref: readonly ClassifyLine[], got: readonly ClassifyLine[]): { score: number; boxPx: number; probability: number } {
  const m = { score: 0, boxPx: 0, probability: 0 };
  ref.forEach((r, i) => {
    const g = got[i];
    if (!g || g.faces.length !== r.faces.length) return;
    r.faces.forEach((rf, j) => {
      const gf = g.faces[j]!;
      m.score = Math.max(m.score, Math.abs(rf.score - gf.score));
      for (const k of ['x', 'y', 'width', 'height'] as const) m.boxPx = Math.max(m.boxPx, Math.abs(rf.box[k] - gf.box[k]));
      for (const [l, a] of Object.entries(rf.probabilities)) m.probability = Math.max(m.probability, Math.abs(a - (gf.probabilities[l] ?? Number.NaN)) || 0);
    });
  });
  return m;
}
