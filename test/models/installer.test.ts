/**
 * The accept path end to end on the real engine (onnxruntime via the agent's loadClassifier) with real bundles:
 * every rejection leaves the running model serving, reports its reason, and leaves nothing behind.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import fc from 'fast-check';
import type { ReasonCode } from '../../agent/core/errors.js';
import { silentLogger } from '../../agent/core/log.js';
import { loadClassifier } from '../../agent/emotion/load-classifier.js';
import { ModelInstaller, type UpdateResult } from '../../agent/models/installer.js';
import type { Manifest } from '../../agent/models/manifest.js';
import type { TrustPolicy } from '../../agent/models/signing.js';
import { ModelStore } from '../../agent/models/store.js';
import { bundleCopy, fixtureBundle, flipByte, makeKey, rehash, selfTests, sign, tarOf, tempDir, trust, type TestKey } from './support.js';

const key = makeKey();

interface Rig {
  installer: ModelInstaller;
  store: ModelStore;
  activations: string[];
  results: UpdateResult[];
}

async function rig(opts: { trust?: TrustPolicy; maxBundleBytes?: number; onActivate?: (dir: string, m: Manifest) => Promise<void> } = {}): Promise<Rig> {
  const store = new ModelStore({ stateDir: tempDir('fer-state-'), keepVersions: 3, log: silentLogger });
  const activations: string[] = [];
  const results: UpdateResult[] = [];
  const installer = new ModelInstaller({
    store,
    loader: loadClassifier,
    engine: 'onnxruntime',
    threads: 1,
    trust: opts.trust ?? trust([key]),
    maxBundleBytes: opts.maxBundleBytes ?? 8 * 1024 * 1024,
    baseBundleDir: fixtureBundle(),
    onActivate: opts.onActivate ?? (async (_dir, m) => void activations.push(m.version)),
    onResult: (r) => results.push(r),
    log: silentLogger,
  });
  const start = await installer.start();
  if (start.info.version !== '0.0.0' || start.info.source !== 'base') throw new Error('rig did not start on the base model');
  return { installer, store, activations, results };
}

function signed(version: string, edit?: Parameters<typeof bundleCopy>[1], by: TestKey = key): string {
  const dir = bundleCopy(version, edit);
  sign(dir, by);
  return dir;
}

test('a valid signed bundle is verified, self-tested, installed and activated', async (t) => {
  const r = await rig();
  const res = await r.installer.installArchive(tarOf(signed('1.0.0')), 'transfer-0001');
  t.true(res.ok, res.message);
  t.is(res.id, 'transfer-0001');
  t.regex(res.message, new RegExp(`installed parity-fixture 1.0.0 \\(signed by ${key.keyId}; self-test`));
  t.deepEqual(r.activations, ['1.0.0']);
  t.is(r.installer.active.version, '1.0.0');
  t.is(r.installer.active.source, 'installed');
  t.is((await r.store.resolveActive()).active?.bundle.manifest.version, '1.0.0');
  t.deepEqual(r.results.map((x) => x.ok), [true]);
});

const rejections: Array<[string, () => Promise<Uint8Array>, ReasonCode, RegExp, Partial<Parameters<typeof rig>[0]>?]> = [
  [
    'tampered manifest with the old valid signature',
    async () => {
      const dir = signed('1.0.0');
      const m = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { version: string };
      m.version = '6.6.6';
      writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m));
      return tarOf(dir);
    },
    'model_signature_invalid',
    /does not match manifest\.json/,
  ],
  ['signed by an untrusted key', async () => tarOf(signed('1.0.0', undefined, makeKey())), 'model_untrusted', /not in model\.trusted_keys/],
  ['unsigned', async () => tarOf(bundleCopy('1.0.0')), 'model_untrusted', /allow_unsigned is false/],
  [
    'file changed after signing (wrong hash)',
    async () => {
      const dir = signed('1.0.0');
      flipByte(path.join(dir, 'model.onnx'), 9000);
      return tarOf(dir);
    },
    'model_hash_mismatch',
    /files\["model\.onnx"\] has sha256/,
  ],
  ['truncated archive', async () => tarOf(signed('1.0.0')).subarray(0, 20_480), 'model_archive_corrupt', /truncated/],
  ['random bytes', async () => new Uint8Array(4096).fill(7), 'model_archive_corrupt', /checksum|ustar/],
  ['oversized payload', async () => tarOf(signed('1.0.0')), 'model_too_large', /max_bundle_bytes is 10000/, { maxBundleBytes: 10_000 }],
  [
    'an unlisted extra file rides along',
    async () => tarOf(signed('1.0.0'), [{ path: 'run-me.sh', data: new Uint8Array(Buffer.from('#!/bin/sh')) }]),
    'model_archive_corrupt',
    /"run-me\.sh" is not listed/,
  ],
  [
    'manifest input shape differs from the model',
    async () =>
      tarOf(signed('1.0.0', (m) => {
        m.input.width = 64;
        m.input.height = 64;
        for (const st of selfTests(m)) for (const c of st.cases) c.pixels_b64 = Buffer.alloc(64 * 64, 9).toString('base64');
      })),
    'model_shape_mismatch',
    /input shape \[\?,1,48,48\] does not match the manifest's \[\?,1,64,64\]/,
  ],
  [
    'label count differs from the model output',
    async () =>
      tarOf(signed('1.0.0', (m) => {
        m.labels = m.labels.slice(0, 6);
        for (const st of selfTests(m)) for (const c of st.cases) c.expected = c.expected.slice(0, 6);
      })),
    'model_shape_mismatch',
    /output shape \[\?,7\] does not match the manifest's \[\?,6\]/,
  ],
  [
    'the float model fails its self-test while the int8 one, which runs, passes: both forms are checked',
    async () =>
      tarOf(signed('1.0.0', (m) => {
        m.selftest.cases[1]!.expected[3] = m.selftest.cases[1]!.expected[3]! + 0.05;
      })),
    'model_selftest_failed',
    /self-test case 1 label happy \(fp32\): onnxruntime gives/,
  ],
  [
    'self-test expectation not met (the int8 model runs by default, checked by its own cases)',
    async () =>
      tarOf(signed('1.0.0', (m) => {
        const st = selfTests(m)[1]!;
        st.cases[2]!.expected[0] = st.cases[2]!.expected[0]! - 0.05;
      })),
    'model_selftest_failed',
    /self-test case 2 label angry \(int8\): onnxruntime gives/,
  ],
  [
    'model file that does not load',
    async () =>
      tarOf(signed('1.0.0', (m, dir) => {
        writeFileSync(path.join(dir, 'model.onnx'), 'not an onnx model');
        rehash(m, dir, 'model.onnx');
      })),
    'model_invalid',
    /model\.onnx does not load on onnxruntime/,
  ],
  [
    'no engine entry for this agent',
    async () => tarOf(signed('1.0.0', (m) => {
      delete (m.engines as Record<string, unknown>).onnx;
      delete (m.engines as Record<string, unknown>).onnx_int8;
    })),
    'model_invalid',
    /no engines\.onnx/,
  ],
  [
    'invalid manifest',
    async () => tarOf(signed('1.0.0', (m) => (m.labels = []))),
    'model_invalid',
    /manifest labels = \[\] is invalid/,
  ],
];

for (const [title, make, reason, msg, opts] of rejections) {
  test(`rejected, old model keeps serving: ${title}`, async (t) => {
    const r = await rig(opts);
    const res = await r.installer.installArchive(await make(), 'transfer-0002');
    t.false(res.ok);
    t.is(res.reason, reason, res.message);
    t.regex(res.message, msg);
    t.deepEqual(r.activations, [], 'no swap happened');
    t.is(res.active.version, '0.0.0');
    t.is(r.installer.active.source, 'base');
    t.is((await r.store.resolveActive()).active, null);
    t.deepEqual(readdirSync(r.store.root).filter((n) => n !== 'current'), [], 'no staging or version folder left');
  });
}

test('a bundle is accepted unsigned only with allow_unsigned', async (t) => {
  const r = await rig({ trust: trust([key], true) });
  const res = await r.installer.installArchive(tarOf(bundleCopy('1.0.0')));
  t.true(res.ok, res.message);
  t.regex(res.message, /unsigned \(allowed by model\.allow_unsigned\)/);
});

test('a hot swap that fails leaves the old model active and reports why', async (t) => {
  const r = await rig({
    onActivate: async () => {
      throw new Error('out of memory while loading');
    },
  });
  const res = await r.installer.installArchive(tarOf(signed('1.0.0')));
  t.false(res.ok);
  t.regex(res.message, /out of memory while loading/);
  t.is(r.installer.active.version, '0.0.0');
  t.is((await r.store.resolveActive()).active, null);
});

test('installDir, then rollback to the base model through the installer', async (t) => {
  const r = await rig();
  t.true((await r.installer.installDir(signed('1.0.0'))).ok);
  t.true((await r.installer.installDir(signed('1.1.0'))).ok);
  const rb = await r.installer.rollback('req-00000001');
  t.true(rb.ok, rb.message);
  t.is(rb.action, 'rollback');
  t.is(rb.active.version, '1.0.0');
  t.true((await r.installer.rollback()).ok);
  t.is(r.installer.active.source, 'base');
  const none = await r.installer.rollback();
  t.false(none.ok);
  t.is(none.reason, 'command_invalid');
  t.deepEqual(r.activations, ['1.0.0', '1.1.0', '1.0.0', '0.0.0']);
});

test('concurrent installs are serialised; the last one wins', async (t) => {
  const r = await rig();
  const [a, b] = await Promise.all([r.installer.installArchive(tarOf(signed('1.0.0'))), r.installer.installArchive(tarOf(signed('1.1.0')))]);
  t.true(a.ok && b.ok);
  t.deepEqual(r.activations, ['1.0.0', '1.1.0']);
  t.is((await r.store.resolveActive()).active?.bundle.manifest.version, '1.1.0');
});

test('fuzz: mutated signed archives never crash the installer; they are rejected with a reason or install unchanged', async (t) => {
  const r = await rig();
  const good = tarOf(signed('1.0.0'));
  const goodManifestSha = (await r.installer.installArchive(good)).active.sha256;
  await r.installer.rollback();
  await fc.assert(
    fc.asyncProperty(fc.array(fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), async (flips) => {
      const b = good.slice();
      for (const [i, x] of flips) b[i] = b[i]! ^ x;
      const res = await r.installer.installArchive(b);
      if (res.ok) {
        // Only bytes that carry nothing (padding) changed: what got installed is exactly the signed bundle.
        const ok = res.active.sha256 === goodManifestSha;
        await r.installer.rollback();
        return ok;
      }
      return typeof res.reason === 'string' && res.message.length > 0 && r.installer.active.source === 'base';
    }),
    { numRuns: 60 },
  );
  t.deepEqual(readdirSync(r.store.root).filter((n) => n.startsWith('.staging')), []);
});
