/**
 * Who may use the live view. Pure functions; the server applies them to every request.
 *
 * - With `web.token` set, a request needs `?token=<token>` or the cookie a page load with the token set. The cookie
 *   holds an HMAC of the token, not the token, and is named per port so two agents on one host do not clash.
 * - Without a token, only requests addressed to an IP literal, localhost or this machine's own name are served: a web
 *   page elsewhere cannot rebind a DNS name to 127.0.0.1 and read the camera through the visitor's browser.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

export type AccessDecision =
  | { ok: true; /** A Set-Cookie header to send (the token came in the query). */ setCookie?: string }
  | { ok: false; status: 401 | 403; reason: string };

export interface AccessInput {
  /** web.token ('' = none). */
  token: string;
  port: number;
  url: URL;
  cookieHeader: string | undefined;
  hostHeader: string | undefined;
  /** Host names that are this machine (lower case), for the no-token check. */
  ownNames: readonly string[];
}

export const cookieName = (port: number): string => `fer_live_${port}`;

export function cookieValue(token: string): string {
  return createHmac('sha256', token).update('fer-edge live view').digest('base64url');
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim(), part.slice(i + 1).trim());
  }
  return out;
}

/** The host name of a Host header, without port or IPv6 brackets, lower case. */
export function hostName(hostHeader: string): string {
  const h = hostHeader.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(1, h.indexOf(']') > 0 ? h.indexOf(']') : undefined);
  const colon = h.lastIndexOf(':');
  return colon >= 0 && h.indexOf(':') === colon ? h.slice(0, colon) : h;
}

export function hostAllowed(hostHeader: string | undefined, ownNames: readonly string[]): boolean {
  if (!hostHeader) return false;
  const name = hostName(hostHeader);
  if (isIP(name) !== 0) return true;
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  return ownNames.includes(name);
}

export function decideAccess(input: AccessInput): AccessDecision {
  if (!input.token) {
    if (hostAllowed(input.hostHeader, input.ownNames)) return { ok: true };
    return { ok: false, status: 403, reason: `host ${JSON.stringify(input.hostHeader ?? '')} is not this machine; set web.token to serve the live view under other host names` };
  }
  const expected = cookieValue(input.token);
  const given = input.url.searchParams.get('token');
  if (given !== null && sameSecret(given, input.token)) {
    return { ok: true, setCookie: `${cookieName(input.port)}=${expected}; Path=/; HttpOnly; SameSite=Strict` };
  }
  const cookie = parseCookies(input.cookieHeader).get(cookieName(input.port));
  if (cookie !== undefined && sameSecret(cookie, expected)) return { ok: true };
  return { ok: false, status: 401, reason: given === null ? 'the live view needs ?token= (web.token is set)' : 'wrong token' };
}
