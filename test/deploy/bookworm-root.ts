/**
 * A Debian Bookworm root file system for the install tests, built with debootstrap (variant minbase, plus systemd
 * and Debian's own nodejs 18) and cached as a tarball, so only the first run downloads anything.
 * Commands run in it with chroot inside a private mount namespace (unshare), so the /dev, /proc and source
 * mounts vanish with the command and nothing leaks onto the host.
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const CACHE_DIR = process.env.FER_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'fer-edge');
export const ROOT_TARBALL = path.join(CACHE_DIR, 'bookworm-root.tar');
export const MIRROR = process.env.FER_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
export const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..', '..');

function which(cmd: string): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** Why the chroot tests cannot run here, or null when they can. */
export function cannotRun(): string | null {
  if (process.getuid?.() !== 0) return 'debootstrap and chroot need root; run the deploy tests as root';
  for (const tool of ['unshare', 'chroot', 'mount', 'tar']) if (!which(tool)) return `${tool} is not installed`;
  if (!existsSync(ROOT_TARBALL) && !which('debootstrap')) return `debootstrap is not installed (apt-get install debootstrap) and no cached root exists at ${ROOT_TARBALL}`;
  return null;
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
      resolve({ code, stdout, stderr: stderr + (err && code === 1 && !stderr ? String(err) : '') });
    });
  });
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Builds the cached tarball if it is missing; returns how long that took (0 when cached). Test files run in parallel
 * workers: one builds (holding a lock folder with its pid), the others wait for its tarball.
 */
export async function ensureRootTarball(log: (s: string) => void): Promise<number> {
  if (existsSync(ROOT_TARBALL)) return 0;
  const t0 = performance.now();
  mkdirSync(CACHE_DIR, { recursive: true });
  const lock = ROOT_TARBALL + '.lock';
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(path.join(lock, 'pid'), String(process.pid));
      break;
    } catch {
      let holder = 0;
      try {
        holder = Number(readFileSync(path.join(lock, 'pid'), 'utf8')) || 0;
      } catch {
        // the other worker has made the folder and not yet written its pid
      }
      if (holder > 0 && !pidAlive(holder)) rmSync(lock, { recursive: true, force: true });
      else {
        if (existsSync(ROOT_TARBALL)) return performance.now() - t0;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }
  try {
    if (existsSync(ROOT_TARBALL)) return 0;
    return await buildRootTarball(log, t0);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

async function buildRootTarball(log: (s: string) => void, t0: number): Promise<number> {
  const tmp = mkdtempSync(path.join(CACHE_DIR, 'debootstrap-'));
  try {
    log(`building a Debian Bookworm root with debootstrap from ${MIRROR} (cached afterwards at ${ROOT_TARBALL})`);
    const r = await run('debootstrap', ['--variant=minbase', '--include=systemd,nodejs', 'bookworm', tmp, MIRROR], 20 * 60_000);
    if (r.code !== 0) throw new Error(`debootstrap failed (${r.code}): ${(r.stdout + r.stderr).slice(-3000)}`);
    chmodSync(tmp, 0o755); // mkdtemp makes it 0700, which would lock the service user out of "/"
    rmSync(path.join(tmp, 'var/cache/apt/archives'), { recursive: true, force: true });
    mkdirSync(path.join(tmp, 'var/cache/apt/archives/partial'), { recursive: true });
    const t = await run('tar', ['--numeric-owner', '-C', tmp, '-cf', ROOT_TARBALL + '.part', '.'], 10 * 60_000);
    if (t.code !== 0) throw new Error(`tar failed: ${t.stderr}`);
    renameSync(ROOT_TARBALL + '.part', ROOT_TARBALL);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return performance.now() - t0;
}

/**
 * A snapshot of the sources install.sh reads, so that edits made in the working tree while the test runs cannot
 * make a "second run" see different sources.
 */
export function snapshotSources(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-src-'));
  for (const f of ['package.json', 'npm-shrinkwrap.json', 'tsconfig.json', 'agent', 'configs', 'systemd', 'deploy', 'README.md', 'LICENSE']) {
    const from = path.join(REPO, f);
    if (existsSync(from)) cpSync(from, path.join(dir, f), { recursive: true, filter: (p) => !p.includes('/node_modules') && !p.includes('__pycache__') });
  }
  chmodSync(dir, 0o755);
  return dir;
}

export interface Chroot {
  dir: string;
  /** Runs argv inside the root as root, with a snapshot of the sources at /src (read-only) and the host's npm cache. */
  exec(argv: string[], opts?: { path?: string; timeoutMs?: number }): Promise<{ code: number; stdout: string; stderr: string }>;
  remove(): void;
}

const MOUNT_AND_CHROOT = `set -e
R=$1; SRC=$2; NPMCACHE=$3; P=$4; shift 4
mount --rbind /dev "$R/dev"
mount -t proc proc "$R/proc"
mount --bind "$SRC" "$R/src"
mount -o remount,bind,ro "$R/src"
mount --bind "$NPMCACHE" "$R/root/.npm"
mount --bind /etc/resolv.conf "$R/etc/resolv.conf"
exec chroot "$R" /usr/bin/env -i PATH="$P" HOME=/root LANG=C.UTF-8 \${https_proxy:+https_proxy=$https_proxy} \${http_proxy:+http_proxy=$http_proxy} \${FER_CA:+NODE_EXTRA_CA_CERTS=$FER_CA} "$@"`;

/** Where the host's extra CA bundle (a TLS-inspecting proxy's, say) goes inside the root, so npm trusts the same registry. */
const CA_IN_ROOT = '/usr/local/share/fer-test-extra-ca.crt';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Unpacks a fresh root and puts the host's Node.js (20+) and npm into /usr/local, as the nodejs.org tarball
 * would: Debian's nodejs 18 stays in /usr/bin, so PATH decides which one install.sh meets.
 */
export async function unpackRoot(): Promise<Chroot> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-bookworm-'));
  const x = await run('tar', ['--numeric-owner', '-C', dir, '-xf', ROOT_TARBALL], 10 * 60_000);
  if (x.code !== 0) throw new Error(`unpacking ${ROOT_TARBALL} failed: ${x.stderr}`);
  chmodSync(dir, 0o755);
  mkdirSync(path.join(dir, 'usr/local/bin'), { recursive: true });
  cpSync(process.execPath, path.join(dir, 'usr/local/bin/node'));
  const npmCli = realpathSync(which('npm') ?? '/usr/bin/npm');
  const npmDir = path.dirname(path.dirname(npmCli));
  cpSync(npmDir, path.join(dir, 'usr/local/lib/node_modules/npm'), { recursive: true, verbatimSymlinks: true });
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', path.join(dir, 'usr/local/bin/npm'));
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', path.join(dir, 'usr/local/bin/npx'));
  for (const d of ['src', 'root/.npm', 'proc', 'dev']) mkdirSync(path.join(dir, d), { recursive: true });
  if (!existsSync(path.join(dir, 'etc/resolv.conf')) || isDanglingLink(path.join(dir, 'etc/resolv.conf'))) {
    rmSync(path.join(dir, 'etc/resolv.conf'), { force: true });
    writeFileSync(path.join(dir, 'etc/resolv.conf'), '');
  }
  const extraCa = process.env.NODE_EXTRA_CA_CERTS;
  const hasCa = extraCa !== undefined && existsSync(extraCa);
  if (hasCa) cpSync(extraCa, path.join(dir, CA_IN_ROOT));
  const npmCache = process.env.FER_NPM_CACHE ?? execFileSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8' }).trim();
  mkdirSync(npmCache, { recursive: true });
  const src = snapshotSources();
  return {
    dir,
    exec: (argv, opts = {}) =>
      run(
        'env',
        [
          ...(hasCa ? [`FER_CA=${CA_IN_ROOT}`] : []),
          ...['unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', MOUNT_AND_CHROOT, 'sh', dir, src, npmCache, opts.path ?? DEFAULT_PATH],
          ...argv,
        ],
        opts.timeoutMs ?? 15 * 60_000,
      ),
    remove: () => {
      rmSync(dir, { recursive: true, force: true });
      rmSync(src, { recursive: true, force: true });
    },
  };
}

function isDanglingLink(p: string): boolean {
  try {
    readlinkSync(p);
    return !existsSync(p);
  } catch {
    return false;
  }
}
