/** The paused-cameras file under bursts of commands: one writer, the last state wins, a restart reads it back. */
import { mkdtempSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { PauseStore } from '../../agent/mqtt/pause-store.js';

test('a burst of 61 alternating saves ends with the last state on disk, with no error, 20 times over', async (t) => {
  for (let round = 0; round < 20; round++) {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-pause-'));
    const store = PauseStore.inDir(dir);
    const saves: Array<Promise<void>> = [];
    for (let i = 0; i <= 60; i++) saves.push(store.save({ cam: i % 2 === 0 })); // ends with i = 60: paused
    await t.notThrowsAsync(Promise.all(saves));
    // What a restarted agent reads.
    t.deepEqual(await PauseStore.inDir(dir).load(), { cam: true }, `round ${round}`);
    t.deepEqual(readdirSync(dir), ['paused.json'], 'no temp file left behind');
  }
});

test('a save that cannot be written is an io_failed error naming the file; the store keeps working after', async (t) => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-pause-'));
  const store = new PauseStore(path.join(dir, 'paused.json', 'nested.json')); // its parent is about to be a file
  await new PauseStore(path.join(dir, 'paused.json')).save({ a: true });
  const err = await t.throwsAsync(store.save({ a: false }));
  t.regex(err!.message, /cannot save paused cameras to .*nested\.json/);
  const ok = PauseStore.inDir(dir);
  await ok.save({ a: false });
  t.deepEqual(await ok.load(), { a: false });
});
