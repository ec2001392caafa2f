/**
 * manifest.json of a `fer-edge-bundle/1` (see BUNDLE.md): parsing and validation, pure. Every rejection is a
 * FerError('model_invalid') whose message names the field and the offending value, so a user reading the
 * status topic knows what to fix in the bundle.
 */
import { FerError } from '../core/errors.js';
import type { ModelSpec } from '../emotion/classifier.js';
import type { Precision, PrecisionSetting } from '../config/schema.js';

export const BUNDLE_FORMAT = 'fer-edge-bundle/1';
/** A manifest is small; anything bigger is not one (and would only cost memory to parse). */
export const MAX_MANIFEST_BYTES = 1024 * 1024;
export const MAX_FILES = 64;
export const MAX_LABELS = 64;
export const MAX_SELFTEST_CASES = 64;
/** Names the agent uses itself and that must therefore not be listed in `files`. */
export const RESERVED_FILES = ['manifest.json', 'signature.json'] as const;
/** Labels the event layer uses for its own states (a new track's `previous`, a lost face). */
const RESERVED_LABELS = new Set(['none', 'face_lost']);

export interface FileEntry {
  sha256: string;
  bytes: number;
}

export interface OnnxEngineEntry {
  file: string;
  input: string;
  output: string;
  layout: 'NCHW';
}

/** The int8 (statically quantized) form of the ONNX model, with its own self-test: int8 outputs differ from float. */
export interface OnnxInt8EngineEntry extends OnnxEngineEntry {
  selftest: SelfTest;
}

export interface TfjsEngineEntry {
  file: string;
  layout: 'NHWC';
}

export interface SelfTestCase {
  pixels_b64: string;
  expected: number[];
}

export interface SelfTest {
  tolerance: number;
  cases: SelfTestCase[];
}

export type { Precision, PrecisionSetting };

export interface Manifest {
  format: typeof BUNDLE_FORMAT;
  name: string;
  version: string;
  created: string;
  labels: string[];
  input: { width: number; height: number; channels: 1 | 3 };
  preprocessing: { scale: number; mean: number[]; std: number[] };
  output: 'probabilities' | 'logits';
  face_crop: { margin: number; square: boolean };
  engines: { onnx?: OnnxEngineEntry; onnx_int8?: OnnxInt8EngineEntry; tfjs?: TfjsEngineEntry };
  files: Record<string, FileEntry>;
  training?: unknown;
  /** How the agent may run this net, from its release: `flip_tta: 'off'` keeps `model.flip_tta: auto` off (BUNDLE.md). */
  runtime?: { flip_tta: 'auto' | 'off' };
  selftest: SelfTest;
}

const NAME_RE = /^[a-z0-9._-]{1,64}$/;
// Semantic Versioning 2.0.0 (the grammar from semver.org, without the optional leading "v").
const SEMVER_RE =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;
const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const SHA256_RE = /^[0-9a-f]{64}$/;
const B64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const LABEL_RE = /^[A-Za-z0-9_-]{1,32}$/;

function bad(field: string, value: unknown, expected: string): never {
  let shown: string;
  try {
    shown = JSON.stringify(value) ?? String(value);
  } catch {
    shown = String(value);
  }
  if (shown.length > 80) shown = shown.slice(0, 77) + '...';
  throw new FerError('model_invalid', `manifest ${field} = ${shown} is invalid: expected ${expected}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(parent: Record<string, unknown>, key: string, field: string): Record<string, unknown> {
  const v = parent[key];
  if (!isObject(v)) bad(field, v, 'an object');
  return v;
}

function str(v: unknown, field: string, re: RegExp, what: string): string {
  if (typeof v !== 'string' || !re.test(v)) bad(field, v, what);
  return v;
}

function num(v: unknown, field: string, min: number, max: number, opts: { integer?: boolean; exclusiveMin?: boolean } = {}): number {
  const ok =
    typeof v === 'number' &&
    Number.isFinite(v) &&
    (opts.exclusiveMin ? v > min : v >= min) &&
    v <= max &&
    (!opts.integer || Number.isInteger(v));
  if (!ok) bad(field, v, `${opts.integer ? 'an integer' : 'a number'} in ${opts.exclusiveMin ? '(' : '['}${min}, ${max}]`);
  return v as number;
}

/**
 * A path inside a bundle: relative, `/`-separated, no `.`/`..`/empty segments, no backslashes or control
 * characters. Applied to `files` keys, engine files and archive entries so nothing can land outside the bundle.
 */
export function checkBundlePath(p: unknown, field: string): string {
  if (typeof p !== 'string' || p.length === 0 || p.length > 255) bad(field, p, 'a relative path of 1-255 characters');
  // eslint-disable-next-line no-control-regex
  if (/[\\\u0000-\u001f\u007f]/.test(p)) bad(field, p, 'a path without backslashes or control characters');
  if (p.startsWith('/')) bad(field, p, 'a relative path (not absolute)');
  if (/^[A-Za-z]:/.test(p)) bad(field, p, 'a relative path (not a drive path)');
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') bad(field, p, 'a path without empty, "." or ".." segments');
  }
  return p;
}

/** Strict base64 → bytes (Buffer.from silently skips junk, which would hide a corrupt self-test case). */
export function decodeBase64Strict(s: string, field: string): Uint8Array {
  if (!B64_RE.test(s)) bad(field, s, 'canonical base64');
  return new Uint8Array(Buffer.from(s, 'base64'));
}

function parseFiles(root: Record<string, unknown>): Record<string, FileEntry> {
  const files = obj(root, 'files', 'files');
  const keys = Object.keys(files);
  if (keys.length === 0) bad('files', files, 'at least one file');
  if (keys.length > MAX_FILES) bad('files', `${keys.length} entries`, `at most ${MAX_FILES} files`);
  const out: Record<string, FileEntry> = {};
  const lower = new Set<string>();
  for (const k of keys) {
    const field = `files[${JSON.stringify(k)}]`;
    checkBundlePath(k, `${field} (path)`);
    if ((RESERVED_FILES as readonly string[]).includes(k)) bad(`${field} (path)`, k, `a file other than ${RESERVED_FILES.join(' and ')}`);
    // Case-insensitive file systems would merge these into one file.
    if (lower.has(k.toLowerCase())) bad(`${field} (path)`, k, 'a path that differs from the others in more than letter case');
    lower.add(k.toLowerCase());
    const e = files[k];
    if (!isObject(e)) bad(field, e, 'an object {sha256, bytes}');
    out[k] = {
      sha256: str(e.sha256, `${field}.sha256`, SHA256_RE, '64 lowercase hex digits'),
      bytes: num(e.bytes, `${field}.bytes`, 0, Number.MAX_SAFE_INTEGER, { integer: true }),
    };
  }
  // A file may not also be a directory of another (`a` and `a/b`).
  for (const k of keys) {
    const segs = k.split('/');
    for (let i = 1; i < segs.length; i++) {
      const dir = segs.slice(0, i).join('/');
      if (out[dir]) bad(`files[${JSON.stringify(dir)}] (path)`, dir, `a path that is not also a folder of ${JSON.stringify(k)}`);
    }
  }
  return out;
}

function parseSelfTest(st: Record<string, unknown>, field: string, m: Pick<Manifest, 'labels' | 'input'>): SelfTest {
  const tolerance = num(st.tolerance, `${field}.tolerance`, 0, 0.5, { exclusiveMin: true });
  if (!Array.isArray(st.cases) || st.cases.length === 0 || st.cases.length > MAX_SELFTEST_CASES) {
    bad(`${field}.cases`, st.cases, `an array of 1-${MAX_SELFTEST_CASES} cases`);
  }
  const need = m.input.width * m.input.height * m.input.channels;
  const cases = st.cases.map((c, i): SelfTestCase => {
    const f = `${field}.cases[${i}]`;
    if (!isObject(c)) bad(f, c, 'an object {pixels_b64, expected}');
    if (typeof c.pixels_b64 !== 'string') bad(`${f}.pixels_b64`, c.pixels_b64, 'a base64 string');
    const px = decodeBase64Strict(c.pixels_b64, `${f}.pixels_b64`);
    if (px.length !== need) bad(`${f}.pixels_b64`, `${px.length} bytes`, `${need} bytes (width*height*channels)`);
    if (!Array.isArray(c.expected) || c.expected.length !== m.labels.length) bad(`${f}.expected`, c.expected, `an array of ${m.labels.length} numbers (one per label)`);
    // Classifiers return probabilities (softmax applied for logits models), so that is what cases expect.
    const expected = c.expected.map((x, j) => num(x, `${f}.expected[${j}]`, 0, 1));
    return { pixels_b64: c.pixels_b64, expected };
  });
  return { tolerance, cases };
}

function parseOnnxEntry(engines: Record<string, unknown>, key: 'onnx' | 'onnx_int8', listed: (v: unknown, field: string) => string): OnnxEngineEntry {
  const e = obj(engines, key, `engines.${key}`);
  return {
    file: listed(e.file, `engines.${key}.file`),
    input: str(e.input, `engines.${key}.input`, /^.{1,256}$/s, 'the name of the model input'),
    output: str(e.output, `engines.${key}.output`, /^.{1,256}$/s, 'the name of the model output'),
    layout: str(e.layout, `engines.${key}.layout`, /^NCHW$/, '"NCHW"') as 'NCHW',
  };
}

function parseEngines(root: Record<string, unknown>, files: Record<string, FileEntry>, m: Pick<Manifest, 'labels' | 'input'>): Manifest['engines'] {
  const engines = obj(root, 'engines', 'engines');
  const out: Manifest['engines'] = {};
  const listed = (v: unknown, field: string): string => {
    const p = checkBundlePath(v, field);
    if (!files[p]) bad(field, p, 'a file listed in files');
    return p;
  };
  if (engines.onnx !== undefined) out.onnx = parseOnnxEntry(engines, 'onnx', listed);
  if (engines.onnx_int8 !== undefined) {
    // An int8 model is an optional faster form of the float one, never a replacement: the tfjs engines and
    // `model.precision: fp32` need the float model.
    if (!out.onnx) bad('engines.onnx_int8', engines.onnx_int8, 'to come with engines.onnx (the float model)');
    const entry = parseOnnxEntry(engines, 'onnx_int8', listed);
    if (entry.file === out.onnx.file) bad('engines.onnx_int8.file', entry.file, 'a file other than engines.onnx.file');
    out.onnx_int8 = { ...entry, selftest: parseSelfTest(obj(obj(engines, 'onnx_int8', 'engines.onnx_int8'), 'selftest', 'engines.onnx_int8.selftest'), 'engines.onnx_int8.selftest', m) };
  }
  if (engines.tfjs !== undefined) {
    const e = obj(engines, 'tfjs', 'engines.tfjs');
    out.tfjs = {
      file: listed(e.file, 'engines.tfjs.file'),
      layout: str(e.layout, 'engines.tfjs.layout', /^NHWC$/, '"NHWC"') as 'NHWC',
    };
  }
  if (!out.onnx && !out.tfjs) bad('engines', engines, 'at least one of onnx, tfjs');
  return out;
}

/** Validates an already-parsed manifest object. */
export function validateManifest(value: unknown): Manifest {
  if (!isObject(value)) bad('(top level)', value, 'an object');
  const root = value;
  if (root.format !== BUNDLE_FORMAT) bad('format', root.format, JSON.stringify(BUNDLE_FORMAT));
  const name = str(root.name, 'name', NAME_RE, '1-64 characters of a-z, 0-9, ".", "_" or "-"');
  const version = str(root.version, 'version', SEMVER_RE, 'a semantic version such as 1.2.0');
  const created = str(root.created, 'created', ISO_RE, 'an ISO 8601 time such as 2026-11-25T12:00:00Z');
  if (Number.isNaN(Date.parse(created))) bad('created', created, 'a real date and time');

  const labels = root.labels;
  if (!Array.isArray(labels) || labels.length < 1 || labels.length > MAX_LABELS) bad('labels', labels, `an array of 1-${MAX_LABELS} labels`);
  labels.forEach((l, i) => {
    str(l, `labels[${i}]`, LABEL_RE, '1-32 characters of A-Z, a-z, 0-9, _ or -');
    if (RESERVED_LABELS.has(l as string)) bad(`labels[${i}]`, l, `a label other than ${[...RESERVED_LABELS].join(', ')} (used by the agent)`);
    if (labels.indexOf(l) !== i) bad(`labels[${i}]`, l, 'a label not already listed (labels must be unique)');
  });

  const inp = obj(root, 'input', 'input');
  const input = {
    width: num(inp.width, 'input.width', 8, 512, { integer: true }),
    height: num(inp.height, 'input.height', 8, 512, { integer: true }),
    channels: inp.channels === 1 || inp.channels === 3 ? inp.channels : bad('input.channels', inp.channels, '1 (grayscale) or 3 (RGB)'),
  };

  const pre = obj(root, 'preprocessing', 'preprocessing');
  const scale = num(pre.scale, 'preprocessing.scale', 0, 1e6, { exclusiveMin: true });
  const vec = (v: unknown, field: string, positive: boolean): number[] => {
    if (!Array.isArray(v) || v.length !== input.channels) bad(field, v, `an array of ${input.channels} numbers (one per input channel)`);
    return v.map((x, i) => num(x, `${field}[${i}]`, positive ? 0 : -1e6, 1e6, { exclusiveMin: positive }));
  };
  const preprocessing = { scale, mean: vec(pre.mean, 'preprocessing.mean', false), std: vec(pre.std, 'preprocessing.std', true) };

  const output = root.output === 'probabilities' || root.output === 'logits' ? root.output : bad('output', root.output, '"probabilities" or "logits"');

  const fc = obj(root, 'face_crop', 'face_crop');
  const face_crop = {
    margin: num(fc.margin, 'face_crop.margin', 0, 2),
    square: typeof fc.square === 'boolean' ? fc.square : bad('face_crop.square', fc.square, 'true or false'),
  };

  const shape = { labels: labels as string[], input: input as Manifest['input'] };
  const files = parseFiles(root);
  const engines = parseEngines(root, files, shape);
  const selftest = parseSelfTest(obj(root, 'selftest', 'selftest'), 'selftest', shape);

  const m: Manifest = {
    format: BUNDLE_FORMAT,
    name,
    version,
    created,
    labels: labels as string[],
    input: input as Manifest['input'],
    preprocessing,
    output,
    face_crop,
    engines,
    files,
    selftest,
  };
  if (root.training !== undefined) m.training = root.training;
  if (root.runtime !== undefined) {
    const rt = obj(root, 'runtime', 'runtime');
    const flip = rt.flip_tta ?? 'auto';
    m.runtime = { flip_tta: flip === 'auto' || flip === 'off' ? flip : bad('runtime.flip_tta', flip, '"auto" or "off"') };
  }
  return m;
}

/** Parses manifest.json bytes (UTF-8 JSON) and validates them. */
export function parseManifest(bytes: Uint8Array | string): Manifest {
  const size = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.length;
  if (size > MAX_MANIFEST_BYTES) throw new FerError('model_invalid', `manifest.json is ${size} bytes; at most ${MAX_MANIFEST_BYTES} are accepted`);
  let value: unknown;
  try {
    const text = typeof bytes === 'string' ? bytes : new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    value = JSON.parse(text);
  } catch (err) {
    throw new FerError('model_invalid', `manifest.json is not valid UTF-8 JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  return validateManifest(value);
}

/**
 * The precision a bundle runs at on an engine: int8 only on onnxruntime and only where the bundle has the int8
 * model (`auto` takes it when there); the tfjs engines always run the float model. Asking for int8 from a bundle
 * without it is an error that names the bundle.
 */
export function resolvePrecision(m: Manifest, engine: string, wanted: PrecisionSetting): Precision {
  if (engine !== 'onnxruntime' || wanted === 'fp32') return 'fp32';
  if (m.engines.onnx_int8) return 'int8';
  if (wanted === 'int8') throw new FerError('model_invalid', `model.precision is int8 but ${m.name} ${m.version} has no engines.onnx_int8 (export it with int8, or set model.precision to auto)`);
  return 'fp32';
}

/** The self-test of the model that runs at `precision`. */
export function selfTestFor(m: Manifest, precision: Precision): SelfTest {
  return precision === 'int8' && m.engines.onnx_int8 ? m.engines.onnx_int8.selftest : m.selftest;
}

/** What a classifier needs from the manifest; an engine the bundle lacks gets an empty file name. */
export function toModelSpec(m: Manifest, precision: Precision = 'fp32'): ModelSpec {
  const onnx = precision === 'int8' ? m.engines.onnx_int8 : m.engines.onnx;
  return {
    precision: onnx ? precision : 'fp32',
    labels: [...m.labels],
    input: { ...m.input },
    preprocessing: { scale: m.preprocessing.scale, mean: [...m.preprocessing.mean], std: [...m.preprocessing.std] },
    output: m.output,
    faceCrop: { ...m.face_crop },
    onnxFile: onnx?.file ?? m.engines.onnx?.file ?? '',
    tfjsFile: m.engines.tfjs?.file ?? '',
  };
}

/** The manifest engine entry a concrete agent engine needs. */
export function engineEntryFor(engine: string): 'onnx' | 'tfjs' {
  return engine === 'onnxruntime' ? 'onnx' : 'tfjs';
}

/** Short name used in directory names and logs: `<name>-<version>-<first 8 hex of the manifest sha256>`. */
export function versionTag(m: Pick<Manifest, 'name' | 'version'>, manifestSha256: string): string {
  return `${m.name}-${m.version}-${manifestSha256.slice(0, 8)}`;
}
