import test from 'ava';
import { FerError } from '../../agent/core/errors.js';
import { checkBundlePath, parseManifest, resolvePrecision, selfTestFor, toModelSpec, validateManifest, versionTag } from '../../agent/models/manifest.js';

const SHA = 'a'.repeat(64);
const px = (n: number, v = 7): string => Buffer.alloc(n, v).toString('base64');

function valid(): Record<string, unknown> {
  return {
    format: 'fer-edge-bundle/1',
    name: 'fer-vgg-s',
    version: '1.2.0-rc.1+build.5',
    created: '2026-11-25T12:00:00Z',
    labels: ['angry', 'happy', 'neutral'],
    input: { width: 8, height: 8, channels: 1 },
    preprocessing: { scale: 1 / 255, mean: [0.5], std: [0.25] },
    output: 'probabilities',
    face_crop: { margin: 0.15, square: true },
    engines: {
      onnx: { file: 'model.onnx', input: 'input', output: 'probabilities', layout: 'NCHW' },
      tfjs: { file: 'tfjs/model.json', layout: 'NHWC' },
    },
    files: { 'model.onnx': { sha256: SHA, bytes: 10 }, 'tfjs/model.json': { sha256: SHA, bytes: 5 } },
    training: { dataset: 'x' },
    selftest: { tolerance: 0.001, cases: [{ pixels_b64: px(64), expected: [0.2, 0.3, 0.5] }] },
  };
}

const DELETE = Symbol('delete');
type Path = Array<string | number>;

/** Sets (or deletes) the value at `path` inside a JSON-like object. */
function edit(root: Record<string, unknown>, path: Path, value: unknown): void {
  let o = root as Record<string | number, unknown>;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
  const last = path[path.length - 1]!;
  if (value === DELETE) delete o[last];
  else o[last] = value;
}

const file = { sha256: SHA, bytes: 1 };

/** Each edit must be rejected with a message naming `field`. */
const rejections: Array<[string, Path, unknown, string]> = [
  ['wrong format', ['format'], 'fer-edge-bundle/2', 'format'],
  ['missing name', ['name'], DELETE, 'name'],
  ['upper-case name', ['name'], 'Fer', 'name'],
  ['name with slash', ['name'], 'a/b', 'name'],
  ['non-semver version', ['version'], '1.0', 'version'],
  ['version with leading v', ['version'], 'v1.0.0', 'version'],
  ['created not a time', ['created'], 'yesterday', 'created'],
  ['created impossible date', ['created'], '2026-13-45T99:00:00Z', 'created'],
  ['labels empty', ['labels'], [], 'labels'],
  ['labels not array', ['labels'], 'happy', 'labels'],
  ['duplicate label', ['labels'], ['happy', 'happy', 'sad'], 'labels[1]'],
  ['reserved label', ['labels'], ['happy', 'face_lost', 'sad'], 'labels[1]'],
  ['label with space', ['labels'], ['happy', 'so sad', 'x'], 'labels[1]'],
  ['input too small', ['input', 'width'], 4, 'input.width'],
  ['input too large', ['input', 'height'], 1024, 'input.height'],
  ['input fractional', ['input', 'width'], 8.5, 'input.width'],
  ['channels 2', ['input', 'channels'], 2, 'input.channels'],
  ['mean count != channels', ['preprocessing', 'mean'], [0.5, 0.5, 0.5], 'preprocessing.mean'],
  ['std zero', ['preprocessing', 'std'], [0], 'preprocessing.std[0]'],
  ['std negative', ['preprocessing', 'std'], [-1], 'preprocessing.std[0]'],
  ['scale zero', ['preprocessing', 'scale'], 0, 'preprocessing.scale'],
  ['scale null', ['preprocessing', 'scale'], null, 'preprocessing.scale'],
  ['output unknown', ['output'], 'softmax', 'output'],
  ['face_crop missing', ['face_crop'], DELETE, 'face_crop'],
  ['face_crop.square not boolean', ['face_crop', 'square'], 'yes', 'face_crop.square'],
  ['no engines', ['engines'], {}, 'engines'],
  ['onnx layout NHWC', ['engines', 'onnx', 'layout'], 'NHWC', 'engines.onnx.layout'],
  ['engine file not listed', ['engines', 'onnx', 'file'], 'other.onnx', 'engines.onnx.file'],
  ['engine file escapes', ['engines', 'tfjs', 'file'], '../x.json', 'engines.tfjs.file'],
  ['files empty', ['files'], {}, 'files'],
  ['absolute file path', ['files', '/etc/passwd'], file, '/etc/passwd'],
  ['dot-dot file path', ['files', 'a/../../b'], file, 'a/../../b'],
  ['backslash file path', ['files', 'a\\b'], file, 'a\\\\b'],
  ['reserved file', ['files', 'manifest.json'], file, 'manifest.json'],
  ['case-colliding files', ['files', 'MODEL.onnx'], file, 'MODEL.onnx'],
  ['file that is also a folder', ['files', 'model.onnx/x'], file, 'model.onnx'],
  ['upper-case sha256', ['files', 'model.onnx', 'sha256'], SHA.toUpperCase(), 'files["model.onnx"].sha256'],
  ['short sha256', ['files', 'model.onnx', 'sha256'], 'abc', 'files["model.onnx"].sha256'],
  ['negative bytes', ['files', 'model.onnx', 'bytes'], -1, 'files["model.onnx"].bytes'],
  ['tolerance zero', ['selftest', 'tolerance'], 0, 'selftest.tolerance'],
  ['no selftest cases', ['selftest', 'cases'], [], 'selftest.cases'],
  ['pixels not base64', ['selftest', 'cases', 0, 'pixels_b64'], '!!!!', 'selftest.cases[0].pixels_b64'],
  ['pixels wrong size', ['selftest', 'cases', 0, 'pixels_b64'], px(63), 'selftest.cases[0].pixels_b64'],
  ['expected wrong length', ['selftest', 'cases', 0, 'expected'], [1, 0], 'selftest.cases[0].expected'],
  ['expected not a probability', ['selftest', 'cases', 0, 'expected'], [2, 0, 0], 'selftest.cases[0].expected[0]'],
  ['selftest missing', ['selftest'], DELETE, 'selftest'],
];

for (const [title, path, value, field] of rejections) {
  test(`manifest rejects: ${title}`, (t) => {
    const m = valid();
    t.notThrows(() => validateManifest(valid()));
    edit(m, path, value);
    const err = t.throws(() => validateManifest(m), { instanceOf: FerError });
    t.is(err?.reason, 'model_invalid');
    t.true(err!.message.includes(field), `message names ${field}: ${err!.message}`);
  });
}

test('a valid manifest parses, keeps training and maps to a ModelSpec', (t) => {
  const m = parseManifest(JSON.stringify(valid()));
  t.is(m.version, '1.2.0-rc.1+build.5');
  t.deepEqual(m.training, { dataset: 'x' });
  const spec = toModelSpec(m);
  t.deepEqual(spec.labels, ['angry', 'happy', 'neutral']);
  t.is(spec.onnxFile, 'model.onnx');
  t.is(spec.tfjsFile, 'tfjs/model.json');
  t.deepEqual(spec.faceCrop, { margin: 0.15, square: true });
  t.is(versionTag(m, 'f'.repeat(64)), 'fer-vgg-s-1.2.0-rc.1+build.5-ffffffff');
});

test("runtime.flip_tta: 'off' or 'auto' is kept (absent: no runtime); anything else is rejected, naming the field", (t) => {
  t.is(validateManifest(valid()).runtime, undefined);
  for (const word of ['off', 'auto'] as const) {
    const m = valid();
    m.runtime = { flip_tta: word };
    t.deepEqual(validateManifest(m).runtime, { flip_tta: word });
  }
  const empty = valid();
  empty.runtime = {};
  t.deepEqual(validateManifest(empty).runtime, { flip_tta: 'auto' });
  for (const [value, field] of [[{ flip_tta: 'on' }, 'runtime.flip_tta'], [{ flip_tta: false }, 'runtime.flip_tta'], ['off', 'runtime']] as const) {
    const m = valid();
    m.runtime = value;
    t.throws(() => validateManifest(m), { message: new RegExp(field.replace('.', '\\.')) }, JSON.stringify(value));
  }
});

test('an RGB manifest needs three means and stds', (t) => {
  const m = valid();
  edit(m, ['input', 'channels'], 3);
  edit(m, ['selftest', 'cases', 0, 'pixels_b64'], px(8 * 8 * 3));
  t.throws(() => validateManifest(m), { message: /preprocessing\.mean/ });
  edit(m, ['preprocessing', 'mean'], [0.5, 0.5, 0.5]);
  edit(m, ['preprocessing', 'std'], [0.2, 0.2, 0.2]);
  t.is(validateManifest(m).input.channels, 3);
});

test('a manifest with only an onnx engine is accepted (tfjs spec file empty)', (t) => {
  const m = valid();
  edit(m, ['engines', 'tfjs'], DELETE);
  t.is(toModelSpec(validateManifest(m)).tfjsFile, '');
});

test('parseManifest rejects non-JSON, invalid UTF-8, a non-object and oversized input', (t) => {
  t.throws(() => parseManifest('{'), { message: /not valid UTF-8 JSON/ });
  t.throws(() => parseManifest(new Uint8Array([0x7b, 0xff, 0x7d])), { message: /not valid UTF-8 JSON/ });
  t.throws(() => parseManifest('[]'), { message: /top level/ });
  t.throws(() => parseManifest(' '.repeat(1024 * 1024 + 1)), { message: /at most/ });
});

test('checkBundlePath accepts nested relative paths and rejects escapes', (t) => {
  t.is(checkBundlePath('tfjs/group1-shard1of1.bin', 'p'), 'tfjs/group1-shard1of1.bin');
  for (const bad of ['', '/abs', 'a//b', './a', 'a/.', '..', 'a/../b', 'C:/x', 'a\u0000b', 'x'.repeat(256)]) {
    t.throws(() => checkBundlePath(bad, 'p'), { instanceOf: FerError }, JSON.stringify(bad));
  }
});

function withInt8(): Record<string, unknown> {
  const m = valid();
  (m.files as Record<string, unknown>)['model.int8.onnx'] = { sha256: SHA, bytes: 4 };
  (m.engines as Record<string, unknown>).onnx_int8 = {
    file: 'model.int8.onnx', input: 'input', output: 'probabilities', layout: 'NCHW',
    selftest: { tolerance: 0.03, cases: [{ pixels_b64: px(64), expected: [0.25, 0.25, 0.5] }] },
  };
  return m;
}

test('an int8 engine entry parses with its own self-test; resolvePrecision picks it only on onnxruntime', (t) => {
  const m = validateManifest(withInt8());
  t.is(m.engines.onnx_int8?.file, 'model.int8.onnx');
  t.deepEqual(selfTestFor(m, 'int8').cases[0]!.expected, [0.25, 0.25, 0.5]);
  t.deepEqual(selfTestFor(m, 'fp32').cases[0]!.expected, [0.2, 0.3, 0.5]);
  t.is(resolvePrecision(m, 'onnxruntime', 'auto'), 'int8');
  t.is(resolvePrecision(m, 'onnxruntime', 'int8'), 'int8');
  t.is(resolvePrecision(m, 'onnxruntime', 'fp32'), 'fp32');
  t.is(resolvePrecision(m, 'tfjs-wasm', 'auto'), 'fp32');
  t.is(resolvePrecision(m, 'tfjs-wasm', 'int8'), 'fp32', 'the tfjs engines run the float model');
  t.is(toModelSpec(m, 'int8').onnxFile, 'model.int8.onnx');
  t.is(toModelSpec(m, 'int8').precision, 'int8');
  t.is(toModelSpec(m).onnxFile, 'model.onnx');
  t.is(toModelSpec(m).precision, 'fp32');
});

test('a bundle without int8: auto runs the float model, an explicit int8 is an error naming the bundle', (t) => {
  const m = validateManifest(valid());
  t.is(resolvePrecision(m, 'onnxruntime', 'auto'), 'fp32');
  const err = t.throws(() => resolvePrecision(m, 'onnxruntime', 'int8'), { instanceOf: FerError });
  t.is(err?.reason, 'model_invalid');
  t.regex(err!.message, /model\.precision is int8 but fer-vgg-s 1\.2\.0-rc\.1\+build\.5 has no engines\.onnx_int8/);
});

test('int8 entries that cannot be right are rejected, naming the field', (t) => {
  const cases: Array<[Path, unknown, RegExp]> = [
    [['engines', 'onnx_int8', 'file'], 'missing.onnx', /engines\.onnx_int8\.file .* a file listed in files/],
    [['engines', 'onnx_int8', 'file'], 'model.onnx', /engines\.onnx_int8\.file .* a file other than engines\.onnx\.file/],
    [['engines', 'onnx_int8', 'selftest'], DELETE, /engines\.onnx_int8\.selftest .* an object/],
    [['engines', 'onnx_int8', 'selftest', 'tolerance'], 0.9, /engines\.onnx_int8\.selftest\.tolerance/],
    [['engines', 'onnx_int8', 'selftest', 'cases', 0, 'expected'], [1, 0], /engines\.onnx_int8\.selftest\.cases\[0\]\.expected .* 3 numbers/],
    [['engines', 'onnx'], DELETE, /engines\.onnx_int8 .* to come with engines\.onnx/],
  ];
  for (const [p, v, re] of cases) {
    const m = withInt8();
    edit(m, p, v);
    const err = t.throws(() => validateManifest(m), { instanceOf: FerError }, p.join('.'));
    t.is(err?.reason, 'model_invalid');
    t.regex(err!.message, re, p.join('.'));
  }
});
