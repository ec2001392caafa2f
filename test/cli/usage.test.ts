/** The CLI as people use it: --help only helps, usage mistakes exit 2 with a plain message, doctor sees taken ports. */
import { execFile } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { packageRoot } from '../../agent/core/paths.js';

const run = promisify(execFile);
const cli = path.join(packageRoot, 'dist/agent/cli/main.js');
type Failed = { code?: number; stdout?: string; stderr?: string };

test('--help on doctor and config prints usage and does nothing else', async (t) => {
  for (const cmd of ['doctor', 'config', 'run', 'eval', 'classify']) {
    const { stdout } = await run('node', [cli, cmd, '--help']);
    t.regex(stdout, new RegExp(`^usage: fer-agent ${cmd}`), cmd);
    t.false(/^(ok|FAIL) /m.test(stdout) || stdout.includes('"agent_id"'), `${cmd} --help ran the command`);
  }
  const { stdout } = await run('node', [cli, '--help']);
  t.regex(stdout, /model +model release \| rollout \| withdraw \| push \| sign \| verify \| pack \| rollback \| status/);
  t.regex(stdout, /fleet +fleet status/);
});

test('an unknown flag is a plain usage error with exit 2, for agent and model commands alike', async (t) => {
  const e = (await t.throwsAsync(run('node', [cli, 'run', '--bogus']))) as Failed;
  t.is(e.code, 2);
  t.is(e.stderr!.trim(), 'fer-agent run: unknown option --bogus (see fer-agent run --help)');
  const m = (await t.throwsAsync(run('node', [cli, 'model', 'nosuch']))) as Failed;
  t.is(m.code, 2);
  // Typos get a suggestion, for flags and commands alike.
  const typo = (await t.throwsAsync(run('node', [cli, 'run', '--mqtt-ulr', 'x']))) as Failed;
  t.is(typo.code, 2);
  t.regex(typo.stderr!, /unknown option --mqtt-ulr \(did you mean --mqtt-url\?\)/);
  const pushTypo = (await t.throwsAsync(run('node', [cli, 'model', 'push', '--tto', 'x', 'b.fer']))) as Failed;
  t.is(pushTypo.code, 2);
  t.regex(pushTypo.stderr!, /unknown option --tto \(did you mean --to\?\)/);
  const cmd = (await t.throwsAsync(run('node', [cli, 'doctr']))) as Failed;
  t.is(cmd.code, 2);
  t.regex(cmd.stderr!, /unknown command "doctr" \(did you mean doctor\?\)/);
});

test('doctor reports a port that run could not listen on', async (t) => {
  t.timeout(120_000);
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.teardown(() => srv.close());
  const port = (srv.address() as AddressInfo).port;
  const e = (await t.throwsAsync(run('node', [cli, 'doctor', '--set', `mqtt.embedded_port=${port}`, '--set', 'mqtt.embedded_host=127.0.0.1', '--log-level', 'error'], { timeout: 110_000 }))) as Failed;
  t.is(e.code, 1);
  t.regex(e.stdout!, new RegExp(`FAIL port embedded broker +127\\.0\\.0\\.1:${port} already in use`));
});
