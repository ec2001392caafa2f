/**
 * Issue 33 item 5: `fer/<agent>/_sync` showed up under `fer/#` without a word about it. Every topic the agent uses
 * (the list in agent/core/topics.ts) must have its row in the topic table of docs/mqtt-home-assistant.md.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { packageRoot } from '../../agent/core/paths.js';

test('every MQTT topic of agent/core/topics.ts is in the topic table of docs/mqtt-home-assistant.md', (t) => {
  const src = readFileSync(path.join(packageRoot, 'agent', 'core', 'topics.ts'), 'utf8');
  const used = [...src.matchAll(/^ \*\s+<base>\/(<agent>\/\S+)/gm)].map((m) => `fer/${m[1]!}`);
  t.true(used.length >= 10, `topics.ts lists ${used.length} topics`);
  const readme = readFileSync(path.join(packageRoot, 'docs', 'mqtt-home-assistant.md'), 'utf8');
  const table = readme.split('\n').filter((l) => l.startsWith('| `fer/')).join('\n');
  // A row may name a sub-topic relative to the one before it (`.../paused/set`, `command/reply`).
  const missing = used.filter((topic) => {
    const tail = topic.split('/').slice(-2).join('/');
    return ![`\`${topic}\``, `\`.../${tail}\``, `\`${tail}\``].some((form) => table.includes(form));
  });
  t.deepEqual(missing, [], 'topics the README does not document');
});
