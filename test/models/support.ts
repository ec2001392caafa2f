/**
 * Test support for model updates: a real bundle from training/tools/make_parity_fixture.py (a tiny ExpressionNet
 * exported to ONNX and TF.js, generated once per test process), copies with an edited manifest, signing keys.
 */
import { execFileSync } from 'node:child_process';
import { createHash, type KeyObject } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../agent/core/paths.js';
import { writeTar, type TarEntry } from '../../agent/models/archive.js';
import { loadPrivateKey, parseTrustedKey, signManifest, generateSigningKeyPair, type TrustPolicy } from '../../agent/models/signing.js';

let fixtureDir: string | null = null;

/** Hash of the fixture script and the training code it runs: a changed exporter gives a fresh fixture. */
function fixtureKey(): string {
  const h = createHash('sha256');
  const script = path.join(packageRoot, 'training', 'tools', 'make_parity_fixture.py');
  h.update(readFileSync(script));
  const pkg = path.join(packageRoot, 'training', 'fer_train');
  for (const f of readdirSync(pkg).filter((n) => n.endsWith('.py')).sort()) h.update(f).update(readFileSync(path.join(pkg, f)));
  return h.digest('hex').slice(0, 12);
}

export function tempDir(prefix = 'fer-models-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/**
 * The real parity-fixture bundle (read-only: copy it before changing anything). Made once and shared by the test
 * processes through a folder named after fixtureKey() (written aside, then renamed into place).
 */
export function fixtureBundle(): string {
  if (!fixtureDir) {
    const final = path.join(os.tmpdir(), `fer-models-fixture-${fixtureKey()}`);
    if (!existsSync(path.join(final, 'bundle', 'manifest.json'))) {
      const dir = tempDir('fer-models-fixture-tmp-');
      execFileSync('python3', [path.join(packageRoot, 'training', 'tools', 'make_parity_fixture.py'), dir], { stdio: ['ignore', 'ignore', 'pipe'] });
      try {
        renameSync(dir, final);
      } catch {
        // Another test process got there first: use its copy.
        rmSync(dir, { recursive: true, force: true });
      }
    }
    fixtureDir = final;
  }
  return path.join(fixtureDir, 'bundle');
}

export type ManifestJson = Record<string, unknown> & {
  version: string;
  labels: string[];
  input: { width: number; height: number; channels: number };
  files: Record<string, { sha256: string; bytes: number }>;
  selftest: { tolerance: number; cases: Array<{ pixels_b64: string; expected: number[] }> };
};

type SelfTestJson = ManifestJson['selftest'];

/** Every self-test a manifest carries: the float model's, then the int8 model's when it has one. */
export function selfTests(m: ManifestJson): SelfTestJson[] {
  const int8 = (m.engines as { onnx_int8?: { selftest: SelfTestJson } } | undefined)?.onnx_int8;
  return int8 ? [m.selftest, int8.selftest] : [m.selftest];
}

export function readManifest(dir: string): ManifestJson {
  return JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as ManifestJson;
}

export function writeManifest(dir: string, m: ManifestJson): void {
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m, null, 2) + '\n');
}

/** Copies the fixture bundle to a new temp folder, sets its version and applies `edit` to the manifest. */
export function bundleCopy(version: string, edit?: (m: ManifestJson, dir: string) => void): string {
  const dir = path.join(tempDir(), 'bundle');
  cpSync(fixtureBundle(), dir, { recursive: true });
  rmSync(path.join(dir, 'signature.json'), { force: true });
  const m = readManifest(dir);
  m.version = version;
  edit?.(m, dir);
  writeManifest(dir, m);
  return dir;
}

/** Re-records a file's size and sha256 in the manifest after a test changed it. */
export function rehash(m: ManifestJson, dir: string, rel: string): void {
  const data = readFileSync(path.join(dir, rel));
  m.files[rel] = { sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length };
}

export interface TestKey {
  keyFile: string;
  pubFile: string;
  keyId: string;
  raw: string;
  key: KeyObject;
}

export function makeKey(dir = tempDir('fer-keys-')): TestKey {
  const k = generateSigningKeyPair();
  const keyFile = path.join(dir, `${k.keyId}.key`);
  const pubFile = path.join(dir, `${k.keyId}.pub`);
  writeFileSync(keyFile, k.privateKeyPem, { mode: 0o600 });
  writeFileSync(pubFile, k.publicKeyPem);
  return { keyFile, pubFile, keyId: k.keyId, raw: k.publicKeyRaw, key: loadPrivateKey(keyFile) };
}

export function sign(dir: string, key: TestKey): void {
  const sig = signManifest(readFileSync(path.join(dir, 'manifest.json')), key.key);
  writeFileSync(path.join(dir, 'signature.json'), JSON.stringify(sig) + '\n');
}

export function trust(keys: TestKey[], allowUnsigned = false): TrustPolicy {
  return { keys: keys.map((k, i) => parseTrustedKey(k.pubFile, i)), allowUnsigned };
}

/** Flips one byte of a file in place. */
export function flipByte(file: string, at = 100): void {
  const b = readFileSync(file);
  b[at % b.length] = b[at % b.length]! ^ 0xff;
  writeFileSync(file, b);
}

/** Every file of a bundle folder as a tar (manifest first), whether or not the bundle is valid. */
export function tarOf(dir: string, extra: TarEntry[] = []): Uint8Array {
  const files: string[] = [];
  const walk = (rel: string): void => {
    for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(r);
      else files.push(r);
    }
  };
  walk('');
  files.sort((a, b) => (a === 'manifest.json' ? -1 : b === 'manifest.json' ? 1 : a.localeCompare(b)));
  return writeTar([...files.map((f) => ({ path: f, data: new Uint8Array(readFileSync(path.join(dir, f))) })), ...extra]);
}
