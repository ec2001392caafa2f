/**
 * Issue 33 item 7: `config --doc` showed no range for most numbers (the README says every number has one), quoted an
 * old release's flip-TTA gain, and named a key that does not exist (health_host). The text is now generated from the
 * schema's formats; these checks keep it that way.
 */
import test from 'ava';
import { describeFormat, keyDocs } from '../../agent/config/doc.js';
import { schema } from '../../agent/config/schema.js';

const docs = keyDocs(schema as unknown as Record<string, unknown>);
const keys = new Set(docs.map((d) => d.key));

test('every number key says its range, every boolean and enum its values', (t) => {
  t.true(docs.length > 50);
  for (const d of docs) {
    if (typeof d.default === 'number') t.regex(d.allowed, /in \[|port/, `${d.key} has a range`);
    if (typeof d.default === 'boolean') t.regex(d.allowed, /^true or false/, d.key);
  }
  t.is(describeFormat('int[1,64]'), 'an integer in [1, 64]');
  t.is(describeFormat(['a', 'b']), 'one of: a, b');
});

test('the docs name only keys that exist, and quote no release-specific figure', (t) => {
  const groups = new Set(docs.map((d) => d.key.split('.')[0]!).filter((g) => docs.some((d) => d.key.startsWith(`${g}.`))));
  for (const d of docs) {
    // A dotted name under a known group must be a key (`health.host`), and the old slip `health_host` must not appear.
    for (const m of d.doc.matchAll(/\b([a-z]+)\.([a-z_]+)\b/g)) {
      if (groups.has(m[1]!) && !/^(js|ts|json|onnx|pt|md)$/.test(m[2]!)) t.true(keys.has(`${m[1]}.${m[2]}`) || [...keys].some((k) => k.startsWith(`${m[1]}.${m[2]}.`)), `${d.key} names ${m[0]}, which is not a key`);
    }
    for (const m of d.doc.matchAll(/\b([a-z]+)_([a-z_]+)\b/g)) t.false(keys.has(`${m[1]}.${m[2]}`), `${d.key} writes ${m[0]} for the key ${m[1]}.${m[2]}`);
    t.notRegex(d.doc, /\b1\.[0-9]\.[0-9]\b/, `${d.key} quotes a release`);
  }
});
