#!/usr/bin/env node
/**
 * fer-agent: the command line. Each subcommand lives in its own module and is imported only when used,
 * so `fer-agent --help` starts fast and a broken optional part cannot break the others.
 */
import '../engines/ort-privacy.js'; // before onnxruntime-node loads: no telemetry (see ort-privacy.ts)
import { redactUrl } from '../core/redact.js';
import { FerError, errorMessage } from '../core/errors.js';
import { nearest } from '../core/nearest.js';
import { UsageError } from './args.js';

type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, { about: string; load: () => Promise<Command> }> = {
  run: { about: 'run the agent (default: bundled frames, bundled model, embedded broker)', load: async () => (await import('./run.js')).runCommand },
  classify: { about: 'per-face emotions for an image or a folder of images', load: async () => (await import('./classify.js')).classifyCommand },
  eval: { about: 'accuracy of a model on FER2013 CSV rows or a labelled image folder', load: async () => (await import('./eval.js')).evalCommand },
  doctor: { about: 'check config, engines, model, camera sources and broker', load: async () => (await import('./doctor.js')).doctorCommand },
  config: { about: 'print the effective config (secrets masked) or, with --doc, every key', load: async () => (await import('./config-command.js')).configCommand },
  model: { about: 'model release | rollout | withdraw | push | sign | verify | pack | rollback | status: signed model updates over MQTT', load: async () => (await import('./model-command.js')).modelCommand },
  keys: { about: 'keys generate: an Ed25519 key pair for signing models', load: async () => (await import('./model-command.js')).keysCommand },
  fleet: { about: 'fleet status: every agent on the broker (and its bridges): online, model, update state, fps, errors', load: async () => (await import('./model-command.js')).fleetCommand },
  ha: { about: 'ha remove: delete this agent from Home Assistant (empty retained discovery)', load: async () => (await import('./ha-command.js')).haCommand },
};

function usage(): string {
  const lines = ['usage: fer-agent <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(9)} ${c.about}`);
  lines.push('', 'common options: --config FILE  --engine auto|onnxruntime|tfjs-node|tfjs-wasm  --model DIR  --threads N', '                --log-level L  --agent-id ID  --mqtt-url URL  --set key=value');
  return lines.join('\n') + '\n';
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const c = commands[name];
  if (!c) {
    const near = nearest(name, Object.keys(commands));
    process.stderr.write(`fer-agent: unknown command ${JSON.stringify(name)}${near ? ` (did you mean ${near}?)` : ''}\n\n${usage()}`);
    return 2;
  }
  return (await c.load())(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`fer-agent ${process.argv[2] ?? ''}: ${err.message} (see fer-agent ${process.argv[2] ?? ''} --help)\n`);
      process.exitCode = 2;
      return;
    }
    const reason = err instanceof FerError ? ` [${err.reason}]` : '';
    // Credentials in a broker or camera URL never reach the terminal (the running agent masks them too).
    process.stderr.write(`fer-agent: ${redactUrl(errorMessage(err))}${reason}\n`);
    if (!(err instanceof FerError) && process.env.FER_DEBUG) process.stderr.write(`${(err as Error).stack ?? ''}\n`);
    process.exitCode = err instanceof FerError && err.reason === 'config_invalid' ? 78 : 1;
  },
);
