import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root (where package.json is), found from this file whether run from `agent/` or `dist/agent/`. */
function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  throw new Error('cannot find the fer-edge package root (no package.json above ' + fileURLToPath(import.meta.url) + ')');
}

export const packageRoot = findRoot();
export const assetsDir = path.join(packageRoot, 'agent', 'assets');
/** The model bundle that ships with the agent. */
export const bundledModelDir = path.join(assetsDir, 'models', 'fer-default');
/** CenterFace prepared for dynamic input (see agent/assets/centerface/README.md). */
export const centerfaceModelPath = path.join(assetsDir, 'centerface', 'centerface.onnx');
/** Its int8 quantization, made by the same prepare.py from the same upstream file. */
export const centerfaceInt8ModelPath = path.join(assetsDir, 'centerface', 'centerface.int8.onnx');
/** Redistributable demo frames (see agent/assets/samples/README.md). */
export const sampleFramesDir = path.join(assetsDir, 'samples', 'frames');
