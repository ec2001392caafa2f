import { loadConfig, maskedConfig } from '../config/load.js';
import { schema } from '../config/schema.js';
import { overridesFrom, parse } from './args.js';

type Node = { doc?: string; default?: unknown; env?: string; format?: unknown; [k: string]: unknown };

function describe(obj: Record<string, Node>, prefix: string, out: string[]): void {
  for (const [k, v] of Object.entries(obj)) {
    if (v && typeof v === 'object' && 'doc' in v) {
      const fmt = Array.isArray(v.format) ? ` (one of: ${v.format.join(', ')})` : '';
      out.push(`${prefix}${k}${v.env ? `  [env ${v.env}]` : ''}\n    ${v.doc}${fmt}\n    default: ${JSON.stringify(v.default)}`);
    } else if (v && typeof v === 'object') describe(v as Record<string, Node>, `${prefix}${k}.`, out);
  }
}

/** `fer-agent config [--doc]`: the effective config with secrets masked, or every key documented. */
export async function configCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { doc: { type: 'boolean' } });
  if (values.help) {
    process.stdout.write('usage: fer-agent config [--doc] [--config FILE] [--set key=value] ...\n  prints the effective configuration (secrets masked); --doc: every key with its documentation and default\n');
    return 0;
  }
  if (values.doc) {
    const out: string[] = [];
    describe(schema as unknown as Record<string, Node>, '', out);
    process.stdout.write(out.join('\n') + '\n');
    return 0;
  }
  const cfg = loadConfig({ file: values.config as string | undefined, overrides: overridesFrom(values) });
  process.stdout.write(JSON.stringify(maskedConfig(cfg), null, 2) + '\n');
  return 0;
}
