/** A started ModelInstaller on the fixture bundle, with its own state dir, trusting `keys`; and a connected client. */
import { connect, type MqttClient } from 'mqtt';
import { silentLogger } from '../../agent/core/log.js';
import { loadClassifier } from '../../agent/emotion/load-classifier.js';
import { ModelInstaller } from '../../agent/models/installer.js';
import type { Manifest } from '../../agent/models/manifest.js';
import { ModelStore } from '../../agent/models/store.js';
import { fixtureBundle, tempDir, trust, type TestKey } from './support.js';

export async function startedInstaller(id: string, keys: TestKey[], o: { maxBundleBytes?: number; onActivate?: (m: Manifest) => void } = {}): Promise<ModelInstaller> {
  const installer = new ModelInstaller({
    store: new ModelStore({ stateDir: tempDir(`fer-${id}-`), keepVersions: 3, log: silentLogger }),
    loader: loadClassifier,
    engine: 'onnxruntime',
    threads: 1,
    trust: trust(keys),
    maxBundleBytes: o.maxBundleBytes ?? 8 << 20,
    baseBundleDir: fixtureBundle(),
    onActivate: async (_dir, m) => o.onActivate?.(m),
    log: silentLogger,
  });
  await installer.start();
  return installer;
}

/** An MQTT client once it is connected (clean session, quick reconnects). */
export async function connectedClient(url: string, id: string): Promise<MqttClient> {
  const c = connect(url, { clientId: id, clean: true, reconnectPeriod: 200 });
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  return c;
}
