/**
 * Ed25519 signatures over manifest.json (which lists the sha256 of every other file, so it covers the bundle).
 * Keys: PKCS#8 / SPKI PEM files; a key id is the first 16 hex digits of the sha256 of the raw 32-byte public key.
 * The agent trusts the keys in config `model.trusted_keys` (PEM paths, PEM text or base64 raw keys).
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { FerError, errorMessage } from '../core/errors.js';

export const SIGNATURE_FILE = 'signature.json';

export interface SignatureFile {
  algorithm: 'ed25519';
  key_id: string;
  /** base64 of the 64-byte Ed25519 signature of the manifest.json bytes. */
  signature: string;
}

export interface TrustedKey {
  keyId: string;
  key: KeyObject;
  /** Where it came from (config entry, shortened), for logs. */
  source: string;
}

export interface TrustPolicy {
  keys: readonly TrustedKey[];
  allowUnsigned: boolean;
}

export interface SignatureCheck {
  signed: boolean;
  keyId: string | null;
}

const KEY_ID_RE = /^[0-9a-f]{16}$/;

function requireEd25519(key: KeyObject, what: string): void {
  if (key.asymmetricKeyType !== 'ed25519') throw new FerError('config_invalid', `${what} is a ${key.asymmetricKeyType ?? key.type} key, not Ed25519`);
}

/** The raw 32-byte public key. */
export function rawPublicKey(pub: KeyObject): Buffer {
  const jwk = pub.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new FerError('config_invalid', 'public key has no Ed25519 x coordinate');
  return Buffer.from(jwk.x, 'base64url');
}

export function publicKeyFromRaw(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw new FerError('config_invalid', `raw Ed25519 public key has ${raw.length} bytes; expected 32`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

export function keyIdOf(pub: KeyObject): string {
  return createHash('sha256').update(rawPublicKey(pub)).digest('hex').slice(0, 16);
}

export interface GeneratedKeyPair {
  keyId: string;
  privateKeyPem: string;
  publicKeyPem: string;
  /** base64 of the raw public key: a form `model.trusted_keys` accepts inline. */
  publicKeyRaw: string;
}

export function generateSigningKeyPair(): GeneratedKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return {
    keyId: keyIdOf(publicKey),
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    publicKeyRaw: rawPublicKey(publicKey).toString('base64'),
  };
}

/** Reads a private signing key (PKCS#8 PEM) from a file. */
export function loadPrivateKey(file: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(readFileSync(file));
  } catch (err) {
    throw new FerError('config_invalid', `signing key ${file} cannot be read as a PEM private key: ${errorMessage(err)}`);
  }
  requireEd25519(key, `signing key ${file}`);
  return key;
}

/**
 * One `model.trusted_keys` entry: PEM text, base64 of a raw 32-byte key, or a path to a PEM file
 * (public key, or a private key whose public half is used).
 */
export function parseTrustedKey(entry: string, index = 0): TrustedKey {
  const what = `model.trusted_keys[${index}]`;
  const trimmed = entry.trim();
  let key: KeyObject;
  try {
    if (trimmed.startsWith('-----BEGIN')) key = createPublicKey(trimmed);
    else if (/^[A-Za-z0-9+/]{43}=$/.test(trimmed)) key = publicKeyFromRaw(Buffer.from(trimmed, 'base64'));
    else key = createPublicKey(readFileSync(trimmed));
  } catch (err) {
    if (err instanceof FerError) throw new FerError('config_invalid', `${what} = ${JSON.stringify(entry.slice(0, 60))}: ${err.message}`);
    throw new FerError('config_invalid', `${what} = ${JSON.stringify(entry.slice(0, 60))} is not a PEM file, PEM text or base64 raw Ed25519 key: ${errorMessage(err)}`);
  }
  requireEd25519(key, `${what} = ${JSON.stringify(entry.slice(0, 60))}`);
  return { keyId: keyIdOf(key), key, source: trimmed.startsWith('-----') ? 'inline PEM' : trimmed.slice(0, 60) };
}

export function loadTrustPolicy(trustedKeys: readonly string[], allowUnsigned: boolean): TrustPolicy {
  return { keys: trustedKeys.map((k, i) => parseTrustedKey(k, i)), allowUnsigned };
}

export function signManifest(manifestBytes: Uint8Array, privateKey: KeyObject): SignatureFile {
  requireEd25519(privateKey, 'signing key');
  const pub = createPublicKey(privateKey);
  return { algorithm: 'ed25519', key_id: keyIdOf(pub), signature: sign(null, manifestBytes, privateKey).toString('base64') };
}

/** Parses signature.json; a malformed one is a bad signature, not "unsigned". */
export function parseSignatureFile(bytes: Uint8Array): SignatureFile {
  const fail = (why: string): never => {
    throw new FerError('model_signature_invalid', `${SIGNATURE_FILE} ${why}`);
  };
  if (bytes.length > 4096) fail(`is ${bytes.length} bytes; a signature file is under 4096`);
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    return fail(`is not valid JSON: ${errorMessage(err)}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return fail('is not a JSON object');
  const o = v as Record<string, unknown>;
  if (o.algorithm !== 'ed25519') fail(`algorithm = ${JSON.stringify(o.algorithm)} is not "ed25519"`);
  if (typeof o.key_id !== 'string' || !KEY_ID_RE.test(o.key_id)) fail(`key_id = ${JSON.stringify(o.key_id)} is not 16 lowercase hex digits`);
  if (typeof o.signature !== 'string' || !/^[A-Za-z0-9+/]{86}==$/.test(o.signature)) {
    fail(`signature = ${JSON.stringify(String(o.signature).slice(0, 20))}... is not the base64 of 64 bytes`);
  }
  return { algorithm: 'ed25519', key_id: o.key_id as string, signature: o.signature as string };
}

/**
 * Decides whether a bundle's manifest may be trusted. A present signature must verify against a trusted key, even
 * where unsigned bundles are allowed (a signature from an unknown or wrong key means something is off).
 */
export function checkSignature(manifestBytes: Uint8Array, sig: SignatureFile | null, policy: TrustPolicy): SignatureCheck {
  if (!sig) {
    if (policy.allowUnsigned) return { signed: false, keyId: null };
    throw new FerError('model_untrusted', `bundle has no ${SIGNATURE_FILE} and model.allow_unsigned is false`);
  }
  const key = policy.keys.find((k) => k.keyId === sig.key_id);
  if (!key) {
    const known = policy.keys.map((k) => k.keyId).join(', ') || 'none';
    throw new FerError('model_untrusted', `bundle is signed by key ${sig.key_id}, which is not in model.trusted_keys (trusted: ${known})`);
  }
  const ok = verify(null, manifestBytes, key.key, Buffer.from(sig.signature, 'base64'));
  if (!ok) throw new FerError('model_signature_invalid', `signature by key ${sig.key_id} does not match manifest.json (tampered or re-written after signing)`);
  return { signed: true, keyId: sig.key_id };
}
