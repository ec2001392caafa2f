import test from 'ava';
import { fetchAllowed } from '../../agent/models/updates.js';

// model.fetch_allow decides where a broker client may make the agent download from: each case is one way a URL could
// slip past a prefix that a person wrote with or without its trailing slash.

test('fetch_allow: URLs under a prefix are allowed, with or without its trailing slash', (t) => {
  for (const [url, allow] of [
    ['https://models.example/fer/b.fer', 'https://models.example/fer/'],
    ['https://models.example/fer/b.fer', 'https://models.example/fer'],
    ['https://models.example/fer', 'https://models.example/fer'],
    ['https://models.example/fer?v=2', 'https://models.example/fer'],
    ['https://models.example/any/b.fer', 'https://models.example'],
    ['https://models.example/fer/x/../b.fer', 'https://models.example/fer/'],
  ] as const) {
    t.is(fetchAllowed(url, [allow]), true, `${url} under ${allow}`);
  }
});

test('fetch_allow: a prefix is a path, not a string: run-on names, other origins, dot segments and credentials are refused', (t) => {
  for (const [url, allow] of [
    ['https://models.example/fer-private/b.fer', 'https://models.example/fer'],
    ['https://models.example/ferx', 'https://models.example/fer'],
    ['https://models.example.evil/fer/b.fer', 'https://models.example'],
    ['http://models.example/fer/b.fer', 'https://models.example/fer/'],
    ['https://models.example:8443/fer/b.fer', 'https://models.example/fer/'],
    ['https://models.example/fer/../secret', 'https://models.example/fer/'],
    ['https://models.example/fer/%2e%2e/secret', 'https://models.example/fer/'],
    ['https://models.example@evil.example/fer/b.fer', 'https://models.example/fer/'],
    ['https://u:p@models.example/fer/b.fer', 'https://models.example/fer/'],
    ['not a url', 'https://models.example/fer/'],
  ] as const) {
    const r = fetchAllowed(url, [allow]);
    t.not(r, true, `${url} under ${allow}`);
    t.false(typeof r === 'string' && r.includes('models.example'), `the refusal echoes the URL: ${String(r)}`);
  }
});

test('fetch_allow: an empty list refuses everything, and a malformed prefix is skipped, not matched', (t) => {
  t.regex(String(fetchAllowed('https://models.example/fer/b.fer', [])), /fetch_allow is empty/);
  t.is(fetchAllowed('https://models.example/fer/b.fer', ['::not a url::', 'https://models.example/fer/']), true);
  t.not(fetchAllowed('https://models.example/fer/b.fer', ['::not a url::']), true);
});
