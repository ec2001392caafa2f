/**
 * Streaming reader for FER2013-style CSV (`emotion,pixels,Usage`, plain or .gz). Malformed rows are reported with
 * file, line and reason and counted; nothing is skipped silently.
 */
import { createReadStream } from 'node:fs';
import readline from 'node:readline';
import { createGunzip } from 'node:zlib';
import { FerError } from '../core/errors.js';

export interface FerRow {
  label: number;
  pixels: Uint8Array;
  usage: string;
  line: number;
}

export interface RowProblem {
  line: number;
  reason: string;
}

export async function* readFerCsv(file: string, onProblem: (p: RowProblem) => void, side = 48): AsyncGenerator<FerRow> {
  const raw = createReadStream(file);
  const input = file.endsWith('.gz') ? raw.pipe(createGunzip()) : raw;
  const rl = readline.createInterface({ input, crlfDelay: Infinity });
  let line = 0;
  const n = side * side;
  try {
    for await (const text of rl) {
      line++;
      if (line === 1) {
        if (!/^emotion,pixels,Usage/.test(text.trim())) throw new FerError('io_failed', `${file}: expected header 'emotion,pixels,Usage', got ${JSON.stringify(text.slice(0, 60))}`);
        continue;
      }
      if (!text.trim()) continue;
      const parts = text.split(',');
      if (parts.length < 3) {
        onProblem({ line, reason: `expected 3 columns, got ${parts.length}` });
        continue;
      }
      const label = Number(parts[0]);
      if (!Number.isInteger(label) || label < 0) {
        onProblem({ line, reason: `emotion ${JSON.stringify(parts[0])} is not a non-negative integer` });
        continue;
      }
      const values = parts[1]!.trim().split(/\s+/);
      if (values.length !== n) {
        onProblem({ line, reason: `expected ${n} pixels, got ${values.length}` });
        continue;
      }
      const pixels = new Uint8Array(n);
      let bad = false;
      for (let i = 0; i < n; i++) {
        const v = Number(values[i]);
        if (!Number.isInteger(v) || v < 0 || v > 255) {
          bad = true;
          break;
        }
        pixels[i] = v;
      }
      if (bad) {
        onProblem({ line, reason: 'pixel value is not an integer in 0..255' });
        continue;
      }
      yield { label, pixels, usage: parts[2]!.trim(), line };
    }
  } finally {
    rl.close();
    raw.destroy();
  }
}
