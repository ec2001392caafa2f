/**
 * Hides user:password in every URL in the text, so descriptions, logs and errors never carry credentials. The
 * userinfo runs to the last "@" before the path, so a password that itself holds "@" is hidden whole
 * (`rtsp://admin:p@ss@cam/` → `rtsp://***@cam/`).
 */
export function redactUrl(text: string): string {
  return text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/\s"'<>]*@/gi, '$1***@');
}

/** A copy of a JSON-like value with redactUrl applied to every string in it (keys included). */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redactUrl(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => redactDeep(v)) as T;
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[redactUrl(k)] = redactDeep(v);
    return out as T;
  }
  return value;
}
