/**
 * Issue 33 item 1: the docs are checked like code. In README.md and docs/*.md (and the protocol and topic references
 * they send readers to): every relative link resolves, every `#anchor` names a heading of its file, and every
 * `fer-agent` command quoted exists with the flags it is quoted with (its own --help, or the common options).
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { packageRoot } from '../../agent/core/paths.js';

const run = promisify(execFile);
const docFiles = [
  'README.md',
  ...readdirSync(path.join(packageRoot, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`),
  'agent/models/BUNDLE.md',
  'agent/mqtt/README.md',
  'training/README.md',
];

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to dashes. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
}

function headings(file: string): Set<string> {
  const text = readFileSync(path.join(packageRoot, file), 'utf8').replace(/```[\s\S]*?```/g, '');
  return new Set(text.split('\n').filter((l) => /^#{1,6} /.test(l)).map((l) => slug(l.replace(/^#+ /, ''))));
}

test('every relative link and anchor in the docs resolves', (t) => {
  const broken: string[] = [];
  for (const file of docFiles) {
    const text = readFileSync(path.join(packageRoot, file), 'utf8').replace(/```[\s\S]*?```/g, '');
    for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!;
      if (/^(https?|mailto):/.test(target)) continue;
      const [rel, anchor] = target.split('#') as [string, string | undefined];
      const resolved = rel ? path.normalize(path.join(path.dirname(file), rel)) : file;
      if (!existsSync(path.join(packageRoot, resolved))) {
        broken.push(`${file}: ${target} (no ${resolved})`);
        continue;
      }
      if (anchor && resolved.endsWith('.md') && !headings(resolved).has(anchor)) broken.push(`${file}: ${target} (no heading #${anchor} in ${resolved})`);
    }
  }
  t.deepEqual(broken, []);
});

const COMMON = ['--config', '--engine', '--model', '--threads', '--log-level', '--agent-id', '--mqtt-url', '--set', '--help'];
const WITH_SUBCOMMANDS = new Set(['model', 'keys', 'fleet', 'ha']);

test('every fer-agent command quoted in the docs exists with the flags it is quoted with', async (t) => {
  const main = path.join(packageRoot, 'dist', 'agent', 'cli', 'main.js');
  const quoted = new Map<string, Set<string>>();
  for (const file of docFiles) {
    const text = readFileSync(path.join(packageRoot, file), 'utf8');
    // Code spans and code blocks: up to a backtick, a pipe, ; && or the end of the line.
    for (const m of text.matchAll(/fer-agent ((?:[a-z][a-z-]*)(?: [a-z][a-z-]*)?)([^`|;&\n]*)/g)) {
      const words = m[1]!.split(' ');
      const cmd = WITH_SUBCOMMANDS.has(words[0]!) && words[1] ? `${words[0]} ${words[1]}` : words[0]!;
      if (!/^[a-z]/.test(cmd) || ['is', 'on', 'the', 'as', 'and', 'or', 'to', 'in', 'itself', 'service'].includes(words[0]!)) continue;
      const flags = quoted.get(cmd) ?? new Set<string>();
      for (const f of m[2]!.matchAll(/(?:^|\s)(--[a-z][a-z0-9-]*)/g)) flags.add(f[1]!);
      quoted.set(cmd, flags);
    }
  }
  const { stdout: top } = await run(process.execPath, [main, '--help']);
  const commands = new Set([...top.matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1]!));
  const problems: string[] = [];
  for (const [cmd, flags] of [...quoted].sort()) {
    const [name, sub] = cmd.split(' ');
    if (!commands.has(name!)) {
      problems.push(`fer-agent ${cmd}: no such command`);
      continue;
    }
    const help = await run(process.execPath, [main, ...cmd.split(' '), '--help']).then((r) => r.stdout, (e: { stdout?: string }) => e.stdout ?? '');
    if (sub && WITH_SUBCOMMANDS.has(name!) && !/usage:/.test(help)) problems.push(`fer-agent ${cmd}: no such subcommand`);
    for (const f of flags) if (!COMMON.includes(f) && !new RegExp(`${f}\\b`).test(help)) problems.push(`fer-agent ${cmd}: ${f} is not in its --help`);
  }
  t.true(quoted.size > 10, `${quoted.size} commands quoted`);
  t.deepEqual(problems, []);
});
