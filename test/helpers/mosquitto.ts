/**
 * A real Mosquitto for tests: started on a free local port with a config in a temp dir, optionally with a TLS
 * listener (certificates made with openssl), a password file and persistence; stopped, restarted on the same port.
 * Needs the Debian package `mosquitto` (the broker and mosquitto_passwd) and `openssl`; `mosquittoAvailable()`
 * says whether the broker is installed, so tests can fail or skip with a clear message.
 *
 *   const broker = await startMosquitto({ passwords: { fer: 'secret' }, tls: true });
 *   ... broker.url, broker.tlsUrl, broker.certs.caFile ...
 *   await broker.restart(); await broker.stop();
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const MOSQUITTO_BIN = ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto'].find((p) => existsSync(p));

export function mosquittoAvailable(): boolean {
  return MOSQUITTO_BIN !== undefined;
}

export interface TestCerts {
  dir: string;
  caFile: string;
  caKeyFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
}

export interface MosquittoOptions {
  /** user → password; when set, anonymous clients are refused. */
  passwords?: Record<string, string>;
  /** Add a TLS listener (true: make certificates in the broker's dir). */
  tls?: boolean | TestCerts;
  /** The TLS listener asks for a client certificate signed by the test CA. */
  requireClientCert?: boolean;
  /** Keep retained messages and persistent sessions across restart(). */
  persistence?: boolean;
  /** Lines appended to the config (a bridge's `connection` block, for one). */
  extraConfig?: string[];
}

export interface Mosquitto {
  port: number;
  url: string;
  tlsPort?: number;
  tlsUrl?: string;
  certs?: TestCerts;
  dir: string;
  /** Stops the broker and starts it again on the same ports (retained messages kept when `persistence`). */
  restart(): Promise<void>;
  /** Stops the broker (it can be started again with start()). */
  stopBroker(): Promise<void>;
  start(): Promise<void>;
  /** Stops it and removes its temp dir. */
  stop(): Promise<void>;
  log(): string;
  /** The broker's process id while it runs (its RSS, in the fleet test). */
  pid(): number | undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A throwaway CA, a server certificate for localhost/127.0.0.1 and a client certificate (EC P-256, 2 days). */
export function makeTestCerts(dir: string): TestCerts {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=fer-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'], dir);
  writeFileSync(path.join(dir, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  writeFileSync(path.join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const who of ['server', 'client']) {
    openssl(['req', ...ec, '-keyout', `${who}.key`, '-out', `${who}.csr`, '-subj', `/CN=${who === 'server' ? 'localhost' : 'fer-test-client'}`], dir);
    openssl(['x509', '-req', '-in', `${who}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${who}.crt`, '-days', '2', '-extfile', `${who}.ext`], dir);
  }
  const f = (n: string): string => path.join(dir, n);
  return { dir, caFile: f('ca.crt'), caKeyFile: f('ca.key'), serverCertFile: f('server.crt'), serverKeyFile: f('server.key'), clientCertFile: f('client.crt'), clientKeyFile: f('client.key') };
}

async function waitForPort(port: number, proc: ChildProcess, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`mosquitto exited with code ${proc.exitCode}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`mosquitto did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  if (!MOSQUITTO_BIN) throw new Error('mosquitto is not installed (Debian: apt-get install -y mosquitto mosquitto-clients)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-mosquitto-'));
  const port = await freePort();
  const certs = opts.tls === true ? makeTestCerts(dir) : opts.tls || undefined;
  const tlsPort = certs ? await freePort() : undefined;
  const lines = [
    'per_listener_settings false',
    // Running as root, mosquitto would switch to the mosquitto user and lose access to the temp dir.
    ...(process.getuid?.() === 0 ? ['user root'] : []),
    `allow_anonymous ${opts.passwords ? 'false' : 'true'}`,
    `log_dest file ${path.join(dir, 'mosquitto.log')}`,
    'log_type all',
    'log_timestamp true',
    `persistence ${opts.persistence ? 'true' : 'false'}`,
    `persistence_location ${dir}/`,
    `listener ${port} 127.0.0.1`,
  ];
  if (opts.passwords) {
    const pw = path.join(dir, 'passwd');
    writeFileSync(pw, '');
    for (const [user, pass] of Object.entries(opts.passwords)) execFileSync('mosquitto_passwd', ['-b', pw, user, pass], { stdio: 'ignore' });
    lines.splice(3, 0, `password_file ${pw}`);
  }
  if (certs && tlsPort) {
    lines.push(`listener ${tlsPort} 127.0.0.1`, `cafile ${certs.caFile}`, `certfile ${certs.serverCertFile}`, `keyfile ${certs.serverKeyFile}`, `require_certificate ${opts.requireClientCert ? 'true' : 'false'}`);
  }
  if (opts.extraConfig) lines.push(...opts.extraConfig);
  const conf = path.join(dir, 'mosquitto.conf');
  writeFileSync(conf, lines.join('\n') + '\n');

  let proc: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    const p = spawn(MOSQUITTO_BIN as string, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    proc = p;
    try {
      await waitForPort(port, p, 10_000);
      if (tlsPort) await waitForPort(tlsPort, p, 10_000);
    } catch (err) {
      p.kill('SIGKILL');
      throw new Error(`${(err as Error).message}\n${stderr}\n${readLog()}`);
    }
  };
  const stopBroker = async (): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (!p || p.exitCode !== null) return;
    // SIGTERM: mosquitto saves its persistence file on the way out.
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => p.kill('SIGKILL'), 5000);
      p.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      p.kill('SIGTERM');
    });
  };
  const readLog = (): string => {
    try {
      return readFileSync(path.join(dir, 'mosquitto.log'), 'utf8');
    } catch {
      return '';
    }
  };
  await start();
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    ...(tlsPort ? { tlsPort, tlsUrl: `mqtts://localhost:${tlsPort}` } : {}),
    ...(certs ? { certs } : {}),
    dir,
    start,
    stopBroker,
    async restart() {
      await stopBroker();
      await start();
    },
    async stop() {
      await stopBroker();
      rmSync(dir, { recursive: true, force: true });
    },
    log: readLog,
    pid: () => proc?.pid,
  };
}
