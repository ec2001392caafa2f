/**
 * Model manifests and bundle archives full of random values: validation either returns a manifest that keeps
 * every rule of agent/models/BUNDLE.md, or throws FerError('model_invalid') naming the field and what is expected;
 * archives either unpack to safe entries or are refused as corrupt / too large. Nothing else escapes.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import test from 'ava';
import fc from 'fast-check';
import { bundledModelDir } from '../../agent/core/paths.js';
import { readArchive, writeTar, type ArchiveLimits } from '../../agent/models/archive.js';
import { checkBundlePath, parseManifest, validateManifest, type Manifest } from '../../agent/models/manifest.js';
import { attempt, attemptAsync, check, describe, isFerError, runs } from './support.js';

const VALID = JSON.parse(readFileSync(path.join(bundledModelDir, 'manifest.json'), 'utf8')) as Record<string, unknown>;

type JsonPath = Array<string | number>;

/** Every path to a value inside a JSON value (objects and arrays included, the root excluded). */
function paths(v: unknown, prefix: JsonPath = [], out: JsonPath[] = []): JsonPath[] {
  if (Array.isArray(v)) v.forEach((x, i) => (out.push([...prefix, i]), paths(x, [...prefix, i], out)));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) (out.push([...prefix, k]), paths(x, [...prefix, k], out));
  return out;
}
const PATHS = paths(VALID);

const DELETE = Symbol('delete');
const value = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom<unknown>(DELETE, 0, -1, 1, 3, 8, 7.5, 513, 1e300, '', '..', '../x', '/etc/passwd', 'a\\b', 'none', 'face_lost', 'NCHW', 'NHWC', 'logits', [], {}, [0.5, 0.5, 0.5]),
);

function mutate(root: Record<string, unknown>, p: JsonPath, v: unknown): Record<string, unknown> {
  const copy = structuredClone(root);
  let o = copy as Record<string | number, unknown>;
  for (const k of p.slice(0, -1)) o = o[k] as Record<string | number, unknown>;
  const last = p[p.length - 1]!;
  if (v === DELETE) {
    if (Array.isArray(o) && typeof last === 'number') o.splice(last, 1);
    else delete o[last];
  } else o[last] = v;
  return copy;
}

/** BUNDLE.md's rules, checked on an accepted manifest; undefined when they hold. */
function ruleBroken(m: Manifest): string | undefined {
  const { width, height, channels } = m.input;
  if (m.labels.length === 0 || new Set(m.labels).size !== m.labels.length) return `labels ${JSON.stringify(m.labels)}`;
  if (m.labels.some((l) => l === 'none' || l === 'face_lost')) return 'reserved label accepted';
  if (![width, height].every((s) => Number.isInteger(s) && s >= 8 && s <= 512)) return `input ${width}x${height}`;
  if (channels !== 1 && channels !== 3) return `channels ${String(channels)}`;
  if (m.preprocessing.mean.length !== channels || m.preprocessing.std.length !== channels) return 'mean/std length';
  if (!m.preprocessing.std.every((s) => s > 0)) return 'std <= 0';
  for (const f of Object.keys(m.files)) {
    try {
      checkBundlePath(f, 'file');
    } catch {
      return `unsafe file path ${f}`;
    }
  }
  for (const e of [m.engines.onnx?.file, m.engines.tfjs?.file]) if (e !== undefined && !m.files[e]) return `engine file ${e} not listed`;
  if (!m.engines.onnx && !m.engines.tfjs) return 'no engine';
  for (const c of m.selftest.cases) {
    if (Buffer.from(c.pixels_b64, 'base64').length !== width * height * channels) return 'selftest pixels size';
    if (c.expected.length !== m.labels.length) return 'selftest expected length';
  }
  return undefined;
}

/** A rejection that names a field and says what is expected. */
function clearRejection(err: unknown): string | undefined {
  if (!isFerError(err, 'model_invalid')) return `not FerError(model_invalid): ${describe(err)}`;
  return /^manifest (\(top level\)|[a-z_]+).* = .* is invalid: expected .+/s.test(err.message) ? undefined : `unclear message: ${err.message}`;
}

test('the bundled manifest is valid (the mutations below start from a good one)', (t) => {
  t.is(ruleBroken(validateManifest(VALID)), undefined);
});

test('manifests: one random change to a valid manifest is accepted only if every rule still holds', (t) => {
  check(
    t,
    fc.property(fc.constantFrom(...PATHS), value, (p, v) => {
      const r = attempt(() => validateManifest(mutate(VALID, p, v)));
      if (r.ok) {
        const broken = ruleBroken(r.value);
        if (broken) throw new Error(`${p.join('.')} = ${String(v)} accepted but ${broken}`);
        return;
      }
      const problem = clearRejection(r.err);
      if (problem) throw new Error(`${p.join('.')}: ${problem}`);
    }),
    runs(500),
  );
});

test('manifests: several random changes at once, same rule', (t) => {
  check(
    t,
    fc.property(fc.array(fc.tuple(fc.constantFrom(...PATHS), value), { minLength: 2, maxLength: 6 }), (edits) => {
      let m = VALID;
      for (const [p, v] of edits) {
        const r = attempt(() => mutate(m, p, v));
        if (r.ok) m = r.value; // a path may no longer exist after an earlier edit
      }
      const r = attempt(() => validateManifest(m));
      if (r.ok) {
        const broken = ruleBroken(r.value);
        if (broken) throw new Error(broken);
        return;
      }
      const problem = clearRejection(r.err);
      if (problem) throw new Error(problem);
    }),
    runs(300),
  );
});

test('manifests: any JSON value and any bytes are rejected with model_invalid, never anything else', (t) => {
  check(
    t,
    fc.property(fc.jsonValue({ maxDepth: 3 }), (v) => {
      const r = attempt(() => validateManifest(v));
      if (r.ok) throw new Error('random JSON accepted as a manifest');
      const problem = clearRejection(r.err);
      if (problem) throw new Error(problem);
    }),
    runs(300),
  );
  check(
    t,
    fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
      const r = attempt(() => parseManifest(bytes));
      if (r.ok || !isFerError(r.err, 'model_invalid')) throw new Error(r.ok ? 'random bytes accepted' : describe(r.err));
    }),
    runs(300),
  );
});

const LIMITS: ArchiveLimits = { maxBytes: 256 * 1024, maxEntries: 16 };
const small = (s: string): Uint8Array => new TextEncoder().encode(s);
const TAR = writeTar([
  { path: 'manifest.json', data: small(JSON.stringify({ format: 'fer-edge-bundle/1' })) },
  { path: 'model.onnx', data: new Uint8Array(700).fill(7) },
  { path: 'tfjs/model.json', data: small('{}') },
]);

/** What the archive reader may do with hostile bytes: return safe entries within limits, or refuse as corrupt/too large. */
async function archiveOutcome(bytes: Uint8Array): Promise<void> {
  const r = await attemptAsync(() => readArchive(bytes, LIMITS));
  if (!r.ok) {
    if (!isFerError(r.err, 'model_archive_corrupt', 'model_too_large') || !r.err.message.startsWith('archive')) throw new Error(describe(r.err));
    return;
  }
  if (r.value.length > LIMITS.maxEntries) throw new Error(`${r.value.length} entries`);
  if (r.value.reduce((a, e) => a + e.data.length, 0) > LIMITS.maxBytes) throw new Error('over maxBytes');
  for (const e of r.value) checkBundlePath(e.path, 'entry');
}

test('archives: random bytes, gzip or not, are refused as corrupt or too large', async (t) => {
  await t.notThrowsAsync(() =>
    fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), fc.boolean(), async (bytes, gz) => archiveOutcome(gz ? new Uint8Array(gzipSync(bytes)) : bytes)),
      runs(300),
    ),
  );
});

test('archives: a valid tar with random bytes overwritten, truncated or extended unpacks safely or is refused', async (t) => {
  t.deepEqual((await readArchive(TAR, LIMITS)).map((e) => e.path), ['manifest.json', 'model.onnx', 'tfjs/model.json']);
  const edit = fc.oneof(
    fc.record({ kind: fc.constant('poke' as const), at: fc.nat(TAR.length - 1), bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
    fc.record({ kind: fc.constant('cut' as const), at: fc.nat(TAR.length - 1) }),
    fc.record({ kind: fc.constant('grow' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 1024 }) }),
  );
  await t.notThrowsAsync(() =>
    fc.assert(
      fc.asyncProperty(fc.array(edit, { minLength: 1, maxLength: 4 }), fc.boolean(), async (edits, gz) => {
        let b = Uint8Array.from(TAR);
        for (const e of edits) {
          if (e.kind === 'poke') b.set(e.bytes.subarray(0, Math.max(0, b.length - e.at)), Math.min(e.at, b.length));
          else if (e.kind === 'cut') b = b.subarray(0, Math.min(e.at, b.length));
          else b = Uint8Array.from([...b, ...e.bytes]);
        }
        await archiveOutcome(gz ? new Uint8Array(gzipSync(b)) : b);
      }),
      runs(300),
    ),
  );
});

test('archives: a gzip bomb is refused as too large without inflating it all', async (t) => {
  const bomb = new Uint8Array(gzipSync(Buffer.alloc(64 * 1024 * 1024)));
  const err = await t.throwsAsync(readArchive(bomb, LIMITS));
  t.true(isFerError(err, 'model_too_large'), describe(err));
});
