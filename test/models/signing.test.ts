import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { FerError } from '../../agent/core/errors.js';
import { silentLogger } from '../../agent/core/log.js';
import { loadBundle } from '../../agent/models/bundle.js';
import { keysGenerateCommand, modelSignCommand } from '../../agent/cli/model-cli.js';
import { checkSignature, keyIdOf, parseSignatureFile, parseTrustedKey, signManifest } from '../../agent/models/signing.js';
import { bundleCopy, makeKey, readManifest, sign, tempDir, trust, writeManifest } from './support.js';

test('a signed bundle verifies against its key; key id is sha256(raw key)[0:16]', async (t) => {
  const k = makeKey();
  const dir = bundleCopy('1.0.0');
  sign(dir, k);
  const b = await loadBundle(dir);
  t.is(b.signature?.key_id, k.keyId);
  t.deepEqual(checkSignature(b.manifestBytes, b.signature, trust([k])), { signed: true, keyId: k.keyId });
  t.regex(k.keyId, /^[0-9a-f]{16}$/);
  t.is(keyIdOf(parseTrustedKey(k.raw).key), k.keyId);
});

test('a tampered manifest with the old, valid signature is rejected', async (t) => {
  const k = makeKey();
  const dir = bundleCopy('1.0.0');
  sign(dir, k);
  const m = readManifest(dir);
  m.version = '9.9.9'; // e.g. an attacker relabels, or swaps a hash for their own model file
  writeManifest(dir, m);
  const b = await loadBundle(dir);
  const err = t.throws(() => checkSignature(b.manifestBytes, b.signature, trust([k])), { instanceOf: FerError });
  t.is(err?.reason, 'model_signature_invalid');
  t.regex(err!.message, new RegExp(k.keyId));
});

test('a key id that names a trusted key but a signature by another key is invalid', async (t) => {
  const trusted = makeKey();
  const attacker = makeKey();
  const dir = bundleCopy('1.0.0');
  sign(dir, attacker);
  const sig = JSON.parse(readFileSync(path.join(dir, 'signature.json'), 'utf8')) as { key_id: string };
  sig.key_id = trusted.keyId;
  writeFileSync(path.join(dir, 'signature.json'), JSON.stringify(sig));
  const b = await loadBundle(dir);
  t.is(t.throws(() => checkSignature(b.manifestBytes, b.signature, trust([trusted])))?.message.includes('does not match'), true);
});

test('a bundle signed by an untrusted key is rejected, naming the key and the trusted ones', async (t) => {
  const trusted = makeKey();
  const other = makeKey();
  const dir = bundleCopy('1.0.0');
  sign(dir, other);
  const b = await loadBundle(dir);
  const err = t.throws(() => checkSignature(b.manifestBytes, b.signature, trust([trusted], true)), { instanceOf: FerError });
  t.is(err?.reason, 'model_untrusted');
  t.true(err!.message.includes(other.keyId) && err!.message.includes(trusted.keyId));
});

test('unsigned bundles are rejected unless model.allow_unsigned', async (t) => {
  const b = await loadBundle(bundleCopy('1.0.0'));
  t.is(b.signature, null);
  const err = t.throws(() => checkSignature(b.manifestBytes, null, trust([makeKey()])), { instanceOf: FerError });
  t.is(err?.reason, 'model_untrusted');
  t.regex(err!.message, /allow_unsigned/);
  t.deepEqual(checkSignature(b.manifestBytes, null, trust([], true)), { signed: false, keyId: null });
});

test('trusted keys may be a PEM path, PEM text or base64 raw key; anything else names the entry', (t) => {
  const k = makeKey();
  t.is(parseTrustedKey(k.pubFile).keyId, k.keyId);
  t.is(parseTrustedKey(readFileSync(k.pubFile, 'utf8')).keyId, k.keyId);
  t.is(parseTrustedKey(k.raw).keyId, k.keyId);
  t.is(parseTrustedKey(k.keyFile).keyId, k.keyId, 'a private key file trusts its public half');
  const err = t.throws(() => parseTrustedKey('/nonexistent/key.pub', 2), { instanceOf: FerError });
  t.is(err?.reason, 'config_invalid');
  t.regex(err!.message, /model\.trusted_keys\[2\]/);
});

test('malformed signature.json is a bad signature, and loadBundle reports it', async (t) => {
  for (const bad of ['{', '[]', '{"algorithm":"rsa","key_id":"0123456789abcdef","signature":""}', '{"algorithm":"ed25519","key_id":"XYZ","signature":""}', '{"algorithm":"ed25519","key_id":"0123456789abcdef","signature":"abc"}']) {
    const err = t.throws(() => parseSignatureFile(Buffer.from(bad)), { instanceOf: FerError });
    t.is(err?.reason, 'model_signature_invalid', bad);
  }
  const dir = bundleCopy('1.0.0');
  writeFileSync(path.join(dir, 'signature.json'), 'garbage');
  await t.throwsAsync(loadBundle(dir), { message: /signature\.json is not valid JSON/ });
});

test('fer-agent keys generate + model sign produce a signature the agent accepts; keys are never overwritten', async (t) => {
  const out = tempDir('fer-keys-');
  t.is(await keysGenerateCommand(['--out', out, '--name', 'k'], silentLogger), 0);
  t.is(await keysGenerateCommand(['--out', out, '--name', 'k'], silentLogger).catch((e: FerError) => e.reason), 'io_failed');
  const dir = bundleCopy('1.0.0');
  t.is(await modelSignCommand([dir, '--key', path.join(out, 'k.key')], silentLogger), 0);
  const b = await loadBundle(dir);
  t.true(checkSignature(b.manifestBytes, b.signature, { keys: [parseTrustedKey(path.join(out, 'k.pub'))], allowUnsigned: false }).signed);
  t.is(await modelSignCommand([dir], silentLogger), 2, 'usage error without --key');
});

test('signManifest refuses a non-Ed25519 key', async (t) => {
  const { generateKeyPairSync } = await import('node:crypto');
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  t.throws(() => signManifest(Buffer.from('x'), privateKey), { message: /not Ed25519/ });
});
