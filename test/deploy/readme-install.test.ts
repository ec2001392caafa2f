/**
 * Issue 33 item 11: docs/install.md's Raspberry Pi section says what the installer can do (every option install.sh takes)
 * and that the install needs the npm registry. A docs check: a new installer option without a README mention fails.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { packageRoot } from '../../agent/core/paths.js';

test('the Pi section of docs/install.md names every install.sh option, and the npm registry it downloads from', (t) => {
  const script = readFileSync(path.join(packageRoot, 'deploy', 'install.sh'), 'utf8');
  // The option parser's case patterns: `    --name)` or `    --name=*)`.
  const options = [...new Set([...script.matchAll(/^\s+(--[a-z][a-z-]*)(?:=\*)?\)/gm)].map((m) => m[1]!))].filter((o) => o !== '--help');
  t.true(options.length >= 10, `found only ${options.join(' ')} in install.sh`);
  const readme = readFileSync(path.join(packageRoot, 'docs', 'install.md'), 'utf8');
  const start = readme.indexOf('## Install on a Raspberry Pi');
  const end = readme.indexOf('\n## ', start + 5);
  const section = readme.slice(start, end < 0 ? undefined : end);
  t.deepEqual(options.filter((o) => !section.includes(o)), [], 'install.sh options the Pi section does not mention');
  t.regex(section, /npm registry/);
});
