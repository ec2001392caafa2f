/**
 * Downloads a bundle archive named by a `fetch` push message: http(s) only, a byte cap enforced while streaming
 * (not trusting Content-Length), a timeout, and the sha256 the message announced.
 */
import { createHash } from 'node:crypto';
import { FerError, errorMessage } from '../core/errors.js';

export interface FetchOptions {
  sha256: string;
  maxBytes: number;
  timeoutMs: number;
  /** Every redirect target must pass this too (model.fetch_allow): an allowed server cannot send the agent elsewhere. */
  allowRedirect?: (url: string) => boolean;
  /** Aborts the download (the agent is stopping); it then fails with io_failed, "cancelled". */
  signal?: AbortSignal;
}

const MAX_REDIRECTS = 5;

export async function fetchBundle(url: string, o: FetchOptions): Promise<Uint8Array> {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new FerError('command_invalid', `bundle URL ${JSON.stringify(url)} is not a URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new FerError('command_invalid', `bundle URL ${JSON.stringify(url)} is not http(s)`);
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), o.timeoutMs);
  const cancel = (): void => ac.abort();
  o.signal?.addEventListener('abort', cancel, { once: true });
  if (o.signal?.aborted) ac.abort();
  try {
    let res = await fetch(u, { signal: ac.signal, redirect: 'manual' });
    for (let hop = 0; res.status >= 300 && res.status < 400 && res.headers.has('location'); hop++) {
      await res.body?.cancel();
      const next = new URL(res.headers.get('location')!, u);
      // The refusal does not name the target: it is what a probe would want to learn.
      if (hop >= MAX_REDIRECTS) throw new FerError('io_failed', `bundle at ${u.origin}${u.pathname}: more than ${MAX_REDIRECTS} redirects`);
      if (!(o.allowRedirect?.(next.href) ?? true)) throw new FerError('command_invalid', `bundle at ${u.origin}${u.pathname} redirects outside model.fetch_allow`);
      res = await fetch(next, { signal: ac.signal, redirect: 'manual' });
    }
    if (!res.ok || !res.body) throw new FerError('io_failed', `GET ${u.origin}${u.pathname} answered HTTP ${res.status}`);
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (Number.isFinite(declared) && declared > o.maxBytes) {
      await res.body.cancel();
      throw new FerError('model_too_large', `bundle at ${u.origin}${u.pathname} is ${declared} bytes; model.max_bundle_bytes is ${o.maxBytes}`);
    }
    const parts: Uint8Array[] = [];
    let total = 0;
    const h = createHash('sha256');
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      total += chunk.length;
      if (total > o.maxBytes) {
        ac.abort();
        throw new FerError('model_too_large', `bundle at ${u.origin}${u.pathname} is over ${o.maxBytes} bytes (model.max_bundle_bytes)`);
      }
      h.update(chunk);
      parts.push(chunk);
    }
    const sha = h.digest('hex');
    if (sha !== o.sha256) throw new FerError('model_hash_mismatch', `bundle at ${u.origin}${u.pathname} has sha256 ${sha}; the fetch message says ${o.sha256}`);
    return new Uint8Array(Buffer.concat(parts));
  } catch (err) {
    if (err instanceof FerError) throw err;
    const why = o.signal?.aborted ? 'cancelled' : ac.signal.aborted ? `timed out after ${o.timeoutMs} ms` : errorMessage(err);
    throw new FerError('io_failed', `cannot download bundle from ${u.origin}${u.pathname}: ${why}`);
  } finally {
    clearTimeout(timer);
    o.signal?.removeEventListener('abort', cancel);
  }
}
