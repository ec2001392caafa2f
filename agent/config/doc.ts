/**
 * `fer-agent config --doc`, pure: every key with its environment variable, documentation, allowed values and default,
 * all read from the schema itself (ranges from LIMITS through each key's format), so the text cannot drift from the
 * checks.
 */
type Node = { doc?: string; default?: unknown; env?: string; format?: unknown; [k: string]: unknown };

export interface KeyDoc {
  key: string;
  env: string | null;
  doc: string;
  /** What values are accepted, in words ('' when the key is free text or checked elsewhere). */
  allowed: string;
  default: unknown;
}

/** The accepted values of a convict format, in words. */
export function describeFormat(format: unknown): string {
  if (Array.isArray(format)) return `one of: ${format.join(', ')}`;
  if (typeof format !== 'string') return '';
  const range = /^(int|number)\[(-?[\d.e+]+),(-?[\d.e+]+)\]$/.exec(format);
  if (range) return `${range[1] === 'int' ? 'an integer' : 'a number'} in [${Number(range[2]).toLocaleString('en-US')}, ${Number(range[3]).toLocaleString('en-US')}]`;
  switch (format) {
    case 'port':
      return 'a port, 0 to 65,535';
    case 'nat':
      return 'an integer >= 0';
    case 'bool':
      return 'true or false (also 1/0, yes/no, on/off)';
    case 'unit':
      return 'a number in [0, 1]';
    case 'string-array':
      return 'a list of strings (in the environment: comma-separated)';
    case 'group-list':
      return 'a list of names of 1-64 of a-z, A-Z, 0-9, _ or -, not "all" (in the environment: comma-separated)';
    default:
      return '';
  }
}

export function keyDocs(schema: Record<string, unknown>, prefix = ''): KeyDoc[] {
  const out: KeyDoc[] = [];
  for (const [k, raw] of Object.entries(schema)) {
    const v = raw as Node;
    if (v && typeof v === 'object' && 'doc' in v) {
      out.push({ key: `${prefix}${k}`, env: v.env ?? null, doc: String(v.doc), allowed: describeFormat(v.format), default: v.default });
    } else if (v && typeof v === 'object') out.push(...keyDocs(v as Record<string, unknown>, `${prefix}${k}.`));
  }
  return out;
}

export function formatKeyDocs(docs: readonly KeyDoc[]): string {
  return docs
    .map((d) => `${d.key}${d.env ? `  [env ${d.env}]` : ''}\n    ${d.doc}${d.allowed ? `\n    allowed: ${d.allowed}` : ''}\n    default: ${JSON.stringify(d.default)}`)
    .join('\n') + '\n';
}
