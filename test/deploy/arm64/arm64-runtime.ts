/**
 * Runs the agent as on a Raspberry Pi 4 (arm64) on this x86-64 machine: Debian's arm64 Node.js under
 * qemu-aarch64-static, with the package's arm64 npm dependencies, both built and cached by
 * deploy/arm64/make-sysroot.sh. The app is assembled in a temp folder so the repo's own (x64) node_modules is
 * never touched.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../../../agent/core/paths.js';

export const MAKE_SYSROOT = path.join(packageRoot, 'deploy', 'arm64', 'make-sysroot.sh');
export const ARM64_CACHE = process.env.FER_ARM64_CACHE ?? path.join(process.env.FER_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'fer-edge'), 'arm64');
/** make-sysroot.sh's exit status for "a prerequisite is missing" (EX_TEMPFAIL); its stderr names it. */
const EX_UNAVAILABLE = 75;

export interface Arm64Runtime {
  qemu: string;
  qemuCpu: string;
  sysroot: string;
  node: string;
  nodeModules: string;
}

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** The environment without FER_* settings, so both runs read the same configs/default.json and nothing else. */
export function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FER_') && k !== 'NODE_OPTIONS'));
}

export function exec(cmd: string, args: string[], opts: { cwd: string; timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<ExecResult> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, encoding: 'utf8', maxBuffer: 32 * 1024 * 1024, timeout: opts.timeoutMs }, (err, stdout, stderr) => {
      const e = err as { code?: unknown; killed?: boolean; signal?: string | null } | null;
      const raw = e?.code;
      const code = err ? (typeof raw === 'number' ? raw : 1) : 0;
      // A run stopped at its bound says so: otherwise it reads as a failure of the program itself.
      const why = e?.killed ? `\nkilled (${e.signal ?? 'signal'}) at its ${(opts.timeoutMs / 1000).toFixed(1)} s bound` : '';
      resolve({ code, stdout, stderr: stderr + (err && typeof raw !== 'number' ? `\n${err.message}` : '') + why, ms: performance.now() - t0 });
    });
  });
}

/** Why the arm64 runtime cannot be built here (make-sysroot.sh --check's own words), or null when it can. */
export async function arm64Unavailable(): Promise<string | null> {
  if (process.platform !== 'linux' || process.arch !== 'x64') return `the x64 reference run needs a linux/x64 host, this is ${process.platform}/${process.arch}`;
  const r = await exec('bash', [MAKE_SYSROOT, '--check', ARM64_CACHE], { cwd: packageRoot, timeoutMs: 120_000 });
  if (r.code === 0) return null;
  const why = r.stderr.trim().split('\n').pop() ?? '';
  if (r.code === EX_UNAVAILABLE) return why.replace(/^make-sysroot: unavailable: /, '');
  throw new Error(`${MAKE_SYSROOT} --check failed (${r.code}): ${r.stderr.slice(-2000)}`);
}

/** Builds (or reuses) the sysroot and the arm64 node_modules; throws with the script's output when that fails. */
export async function buildArm64Runtime(): Promise<Arm64Runtime> {
  const r = await exec('bash', [MAKE_SYSROOT, ARM64_CACHE], { cwd: packageRoot, timeoutMs: 15 * 60_000 });
  if (r.code !== 0) throw new Error(`${MAKE_SYSROOT} failed (${r.code}): ${r.stderr.slice(-3000)}`);
  const kv = new Map(r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  const get = (k: string): string => {
    const v = kv.get(k);
    if (!v) throw new Error(`${MAKE_SYSROOT} printed no ${k}= line: ${r.stdout}`);
    return v;
  };
  return { qemu: get('qemu'), qemuCpu: get('qemu_cpu'), sysroot: get('sysroot'), node: get('node'), nodeModules: get('node_modules') };
}

/**
 * A runnable copy of the agent: dist/agent copied (Node resolves an ES module's imports from its real path, so a
 * symlinked dist would find the repo's x64 node_modules), package.json copied (paths.ts finds the package root by
 * it), agent/assets and configs linked, node_modules linked to the arm64 set. The caller removes the folder.
 */
export function assembleApp(nodeModules: string): string {
  const app = mkdtempSync(path.join(os.tmpdir(), 'fer-arm64-app-'));
  mkdirSync(path.join(app, 'dist'));
  mkdirSync(path.join(app, 'agent'));
  cpSync(path.join(packageRoot, 'dist', 'agent'), path.join(app, 'dist', 'agent'), { recursive: true });
  cpSync(path.join(packageRoot, 'package.json'), path.join(app, 'package.json'));
  symlinkSync(path.join(packageRoot, 'agent', 'assets'), path.join(app, 'agent', 'assets'));
  symlinkSync(path.join(packageRoot, 'configs'), path.join(app, 'configs'));
  symlinkSync(nodeModules, path.join(app, 'node_modules'));
  return app;
}

/** `node ARGS` with the arm64 node under qemu-user, emulating the Pi's CPU model; no binfmt needed. */
export function runArm64Node(rt: Arm64Runtime, cwd: string, args: string[], timeoutMs: number): Promise<ExecResult> {
  return exec(rt.qemu, ['-cpu', rt.qemuCpu, '-L', rt.sysroot, rt.node, ...args], { cwd, env: cleanEnv(), timeoutMs });
}
