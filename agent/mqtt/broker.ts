/**
 * The embedded MQTT broker (aedes on node:net), used when no broker is configured, so `fer-agent run` shows real
 * MQTT traffic with no setup: `mosquitto_sub -h 127.0.0.1 -t 'fer/#' -v`.
 */
import net from 'node:net';
import { Aedes } from 'aedes';
import { FerError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';

export interface EmbeddedBroker {
  /** mqtt://host:port of the running broker. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function startEmbeddedBroker(opts: { host: string; port: number; log: Logger }): Promise<EmbeddedBroker> {
  const broker = await Aedes.createBroker();
  const server = net.createServer(broker.handle);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await new Promise<void>((r) => broker.close(() => r()));
    const inUse = (err as NodeJS.ErrnoException).code === 'EADDRINUSE';
    throw new FerError(
      'broker_unavailable',
      `embedded MQTT broker cannot listen on ${opts.host}:${opts.port}: ${inUse ? 'the port is in use (another broker?): set mqtt.url to that broker, or mqtt.embedded_port to a free port' : errorMessage(err)}`,
    );
  }
  server.on('error', (err) => opts.log.error({ err: errorMessage(err) }, 'embedded MQTT broker error'));
  const port = (server.address() as net.AddressInfo).port;
  const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  opts.log.info({ host: opts.host, port }, 'embedded MQTT broker listening');
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return {
    url: `mqtt://${host}:${port}`,
    port,
    async stop() {
      await new Promise<void>((r) => broker.close(() => r()));
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
