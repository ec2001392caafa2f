/** The release record (desired state): signing, every refusal an agent makes, and the rule it converges by. */
import test from 'ava';
import { FerError } from '../../agent/core/errors.js';
import { decodeRelease, encodeRelease, isStale, newestRecord, planRelease, type ReleaseBody } from '../../agent/models/release-record.js';
import { makeKey, trust } from './support.js';

const key = makeKey();
const other = makeKey();
const SHA = 'a'.repeat(64);

function body(over: Partial<ReleaseBody> = {}): ReleaseBody {
  return {
    id: 'rel-test-0001',
    target: 'all',
    seq: 1000,
    issued_at: '2026-12-05T00:00:00.000Z',
    name: 'fer-vgg-s',
    version: '1.4.0',
    manifest_sha256: 'b'.repeat(64),
    source: { kind: 'chunks', sha256: SHA, bytes: 600_000, chunks: 3, chunk_bytes: 262_144 },
    allow_label_change: false,
    ...over,
  };
}

const enc = (b: ReleaseBody, k = key): Buffer => Buffer.from(encodeRelease(b, k.key));

function reason(t: import('ava').ExecutionContext, fn: () => unknown): string {
  const err = t.throws(fn);
  t.true(err instanceof FerError, String(err));
  return (err as FerError).reason;
}

test('a record signed by a trusted key decodes to its body and key', (t) => {
  const r = decodeRelease(enc(body()), 'all', trust([key]));
  t.deepEqual(r.body, body());
  t.is(r.keyId, key.keyId);
});

test('forged, untrusted, unsigned, replayed on another target, malformed: each refused with its reason', (t) => {
  const good = JSON.parse(enc(body()).toString()) as { body: string };
  // A newer version written into a signed body.
  const forged = Buffer.from(JSON.stringify({ ...good, body: good.body.replace('1.4.0', '9.0.0') }));
  t.is(reason(t, () => decodeRelease(forged, 'all', trust([key]))), 'model_signature_invalid');
  t.is(reason(t, () => decodeRelease(enc(body(), other), 'all', trust([key]))), 'model_untrusted');
  const unsigned = Buffer.from(encodeRelease(body(), null));
  t.is(reason(t, () => decodeRelease(unsigned, 'all', trust([key]))), 'model_untrusted');
  t.is(decodeRelease(unsigned, 'all', trust([key], true)).keyId, null, 'unsigned only with allow_unsigned');
  // A canary group's record re-published on `all`: the target is inside what was signed.
  t.is(reason(t, () => decodeRelease(enc(body({ target: 'canary' })), 'all', trust([key]))), 'release_invalid');
  t.is(reason(t, () => decodeRelease(Buffer.from('{"proto":"x"}'), 'all', trust([key]))), 'release_invalid');
  t.is(reason(t, () => decodeRelease(Buffer.from('not json'), 'all', trust([key]))), 'release_invalid');
  const badChunks = { ...body(), source: { kind: 'chunks' as const, sha256: SHA, bytes: 600_000, chunks: 2, chunk_bytes: 262_144 } };
  t.is(reason(t, () => encodeRelease(badChunks, key.key)), 'release_invalid', 'chunks that do not fit bytes');
  t.is(reason(t, () => encodeRelease(body({ version: 'latest' }), key.key)), 'release_invalid');
});

test('the agent converges on the newest version among its targets, whichever arrived first', (t) => {
  const all = body({ id: 'rel-all-00001', version: '1.4.0', seq: 10 });
  const group = body({ id: 'rel-grp-00001', target: 'canary', version: '1.5.0', seq: 5 });
  const mine = body({ id: 'rel-me-000001', target: 'pi-1', version: '1.4.0', seq: 20 });
  t.is(newestRecord([all, group, mine])?.id, 'rel-grp-00001');
  t.is(newestRecord([mine, group, all])?.id, 'rel-grp-00001');
  t.is(newestRecord([all, mine])?.id, 'rel-me-000001', 'same version: the later seq');
  t.is(newestRecord([]), null);
});

test('plan: install a newer version, nothing for the same manifest or an older version, refuse another manifest under the same version', (t) => {
  const r = body();
  const active = (version: string, sha256 = 'c'.repeat(64)) => ({ name: 'fer-vgg-s', version, sha256 });
  t.is(planRelease(r, active('1.3.0')).action, 'install');
  t.is(planRelease(r, active('1.4.0', r.manifest_sha256)).action, 'converged');
  t.is(planRelease(r, active('2.0.0')).action, 'ahead');
  t.like(planRelease(r, active('1.4.0')), { action: 'refuse', reason: 'model_downgrade' });
});

test('stale: a smaller seq than the one accepted for the same target', (t) => {
  const seen = new Map([['all', 1000]]);
  t.true(isStale(body({ seq: 999 }), seen));
  t.false(isStale(body({ seq: 1000 }), seen), 'the same record again (every reconnect) is not stale');
  t.false(isStale(body({ seq: 5, target: 'canary' }), seen), 'per target');
});
