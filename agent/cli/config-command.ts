import { loadConfig, maskedConfig } from '../config/load.js';
import { formatKeyDocs, keyDocs } from '../config/doc.js';
import { schema } from '../config/schema.js';
import { overridesFrom, parse } from './args.js';


/** `fer-agent config [--doc]`: the effective config with secrets masked, or every key documented. */
export async function configCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { doc: { type: 'boolean' } });
  if (values.help) {
    process.stdout.write('usage: fer-agent config [--doc] [--config FILE] [--set key=value] ...\n  prints the effective configuration (secrets masked); --doc: every key with its documentation and default\n');
    return 0;
  }
  if (values.doc) {
    process.stdout.write(formatKeyDocs(keyDocs(schema as unknown as Record<string, unknown>)));
    return 0;
  }
  const cfg = loadConfig({ file: values.config as string | undefined, overrides: overridesFrom(values) });
  process.stdout.write(JSON.stringify(maskedConfig(cfg), null, 2) + '\n');
  return 0;
}
