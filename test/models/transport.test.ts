import { createHash, randomBytes } from 'node:crypto';
import test from 'ava';
import { ManualClock } from '../helpers/clock.js';
import fc from 'fast-check';
import { FerError } from '../../agent/core/errors.js';
import type { ActiveInfo, UpdateResult } from '../../agent/models/installer.js';
import {
  agentTargets,
  buildStatus,
  chunkTransfer,
  decodePushMessage,
  decodeRollback,
  encodePushMessage,
  encodeRollback,
  parseCommandTopic,
  parseStatus,
  Reassembler,
  statusMatchesTarget,
  topics,
  type PushMessage,
} from '../../agent/models/transport.js';

const limits = { maxBytes: 1 << 20, maxTransfers: 2, idleTimeoutMs: 10_000 };
const wire = (m: PushMessage): PushMessage => decodePushMessage(encodePushMessage(m));

function messages(data: Uint8Array, id = 'transfer-1', chunk = 1000): Array<Exclude<PushMessage, { type: 'fetch' }>> {
  return [...chunkTransfer(data, id, chunk)].map(wire) as Array<Exclude<PushMessage, { type: 'fetch' }>>;
}

test('topics: push/rollback per target, status per agent; an agent listens to itself, its groups and all', (t) => {
  t.is(topics.push('fer', 'kitchen'), 'fer/kitchen/model/push');
  t.is(topics.status('home/fer', 'pi-1'), 'home/fer/pi-1/model/status');
  t.deepEqual(agentTargets('pi-1', ['kitchen', 'pi-1']), ['pi-1', 'kitchen', 'all']);
  t.deepEqual(parseCommandTopic('home/fer', 'home/fer/all/model/rollback'), { target: 'all', kind: 'rollback' });
  t.is(parseCommandTopic('fer', 'fer/pi-1/model/status'), null);
  t.is(parseCommandTopic('fer', 'fer/a/b/model/push'), null);
  t.throws(() => topics.push('fer', 'a/#'), { instanceOf: FerError });
});

test('push messages survive encode → decode; chunks carry raw bytes after the header line', (t) => {
  const data = randomBytes(2500);
  const ms = messages(data);
  t.is(ms.length, 5);
  const begin = ms[0]!;
  t.like(begin, { type: 'begin', bytes: 2500, chunks: 3, chunk_bytes: 1000, sha256: createHash('sha256').update(data).digest('hex') });
  const chunk = ms[3]!;
  t.is(chunk.type, 'chunk');
  if (chunk.type === 'chunk') t.deepEqual(Buffer.from(chunk.data), data.subarray(2000));
  t.deepEqual(wire({ type: 'fetch', transfer: 'transfer-1', url: 'https://example.org/b.fer', sha256: 'a'.repeat(64), bytes: 5 }), {
    type: 'fetch', transfer: 'transfer-1', url: 'https://example.org/b.fer', sha256: 'a'.repeat(64), bytes: 5,
  });
});

test('malformed push messages are refused naming the problem', (t) => {
  const bad: Array<[string, RegExp]> = [
    ['no newline', /no JSON header/],
    ['{"proto":"x"}\n', /proto/],
    ['{"proto":"fer-model-push/1","type":"begin","transfer":"short"}\n', /transfer/],
    ['{"proto":"fer-model-push/1","type":"begin","transfer":"transfer-1","bytes":10,"chunk_bytes":4,"chunks":2,"sha256":"' + 'a'.repeat(64) + '"}\n', /chunks = 2 does not fit/],
    ['{"proto":"fer-model-push/1","type":"begin","transfer":"transfer-1","bytes":10,"chunk_bytes":0,"chunks":1,"sha256":"' + 'a'.repeat(64) + '"}\n', /chunk_bytes/],
    ['{"proto":"fer-model-push/1","type":"chunk","transfer":"transfer-1","index":-1}\n', /index/],
    ['{"proto":"fer-model-push/1","type":"fetch","transfer":"transfer-1","url":"file:///etc/passwd","sha256":"' + 'a'.repeat(64) + '"}\n', /http\(s\) URL/],
    ['{"proto":"fer-model-push/1","type":"end","transfer":"transfer-1"}\nextra', /unexpected bytes/],
    ['{"proto":"fer-model-push/1","type":"explode","transfer":"transfer-1"}\n', /type/],
  ];
  for (const [payload, msg] of bad) {
    const err = t.throws(() => decodePushMessage(Buffer.from(payload)), { instanceOf: FerError }, payload);
    t.is(err?.reason, 'command_invalid');
    t.regex(err!.message, msg);
  }
});

test('reassembly: in order, out of order, duplicated, end before the last chunk', (t) => {
  const data = randomBytes(4321);
  const [begin, ...rest] = messages(data);
  const end = rest.pop()!;
  const chunks = rest;
  const orders = [
    [begin!, ...chunks, end],
    [begin!, ...[...chunks].reverse(), end],
    [begin!, begin!, chunks[0]!, ...chunks, chunks[2]!, end],
    [begin!, chunks[0]!, end, ...chunks.slice(1)],
  ];
  for (const order of orders) {
    const r = new Reassembler(limits, new ManualClock(0, 1_780_000_000_000));
    const outs = order.map((m) => r.accept(m));
    const done = outs.filter((o) => o.kind === 'complete');
    t.is(done.length, 1);
    if (done[0]?.kind === 'complete') t.deepEqual(Buffer.from(done[0].data), data);
    t.is(r.inProgress, 0);
    // Late duplicates after completion do nothing.
    t.is(r.accept(end).kind, 'ignored');
    t.is(r.accept(chunks[0]!).kind, 'ignored');
  }
});

test('reassembly refuses oversize at begin, wrong chunk sizes, bad hash, too many transfers; drops idle ones', (t) => {
  const clock = new ManualClock(0, 1_780_000_000_000);
  const r = new Reassembler(limits, clock);
  const big = r.accept({ type: 'begin', transfer: 'transfer-big', bytes: (1 << 20) + 1, sha256: 'a'.repeat(64), chunks: 2, chunk_bytes: 1 << 20 });
  t.like(big, { kind: 'failed', reason: 'model_too_large' });
  t.is(r.accept({ type: 'chunk', transfer: 'transfer-big', index: 0, data: new Uint8Array(10) }).kind, 'ignored');

  const data = randomBytes(3000);
  const [b, c0] = messages(data, 'transfer-2');
  r.accept(b!);
  const short = r.accept({ type: 'chunk', transfer: 'transfer-2', index: 1, data: new Uint8Array(999) });
  t.like(short, { kind: 'failed', reason: 'model_archive_corrupt' });
  t.regex((short as { message: string }).message, /chunk 1 has 999 bytes; expected 1000/);
  t.is(r.accept(c0!).kind, 'ignored', 'a failed transfer stays failed');

  const forged = messages(data, 'transfer-3');
  const fb = forged[0]!;
  if (fb.type === 'begin') fb.sha256 = 'b'.repeat(64);
  const outs = forged.map((m) => r.accept(m));
  t.like(outs[outs.length - 1], { kind: 'failed', reason: 'model_hash_mismatch' });

  t.is(r.accept(messages(data, 'transfer-4')[0]!).kind, 'progress');
  t.is(r.accept(messages(data, 'transfer-5')[0]!).kind, 'progress');
  t.like(r.accept(messages(data, 'transfer-6')[0]!), { kind: 'failed', reason: 'model_transfer_refused' });

  clock.t += 5_000;
  t.deepEqual(r.expire(), []);
  r.accept(messages(data, 'transfer-4')[1]!);
  clock.t += 6_000;
  const expired = r.expire();
  t.deepEqual(expired.map((e) => e.transfer), ['transfer-5']);
  t.regex((expired[0] as { message: string }).message, /0 of 3 chunks, no end/);
  clock.t += 10_000;
  t.deepEqual(r.expire().map((e) => e.transfer), ['transfer-4']);
  t.is(r.inProgress, 0);
});

test('two begins followed by nothing cannot block updates: a stalled transfer gives its slot to a new one', (t) => {
  const clock = new ManualClock(0, 1_780_000_000_000);
  const r = new Reassembler({ ...limits, stallMs: 5000 }, clock);
  const data = randomBytes(3000);
  t.is(r.accept(messages(data, 'squatter-1')[0]!).kind, 'progress');
  t.is(r.accept(messages(data, 'squatter-2')[0]!).kind, 'progress');
  clock.t += 1000;
  t.like(r.accept(messages(data, 'too-early-1')[0]!), { kind: 'failed', reason: 'model_transfer_refused' }, 'busy slots are kept while fresh');
  clock.t += 5000;
  const [begin, ...rest] = messages(data, 'real-push-1');
  const out = r.accept(begin!);
  t.like(out, { kind: 'progress', evicted: { kind: 'failed', transfer: 'squatter-1', reason: 'model_archive_corrupt' } });
  const last = rest.map((m) => r.accept(m)).pop();
  t.like(last, { kind: 'complete', transfer: 'real-push-1' });
});

test('fuzz: any interleaving with duplicates of a transfer completes with the exact bytes', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 0, maxLength: 5000 }), fc.integer({ min: 1, max: 2048 }), fc.infiniteStream(fc.nat()), (data, chunk, rnd) => {
      const [begin, ...rest] = messages(data, 'transfer-fz', chunk);
      // Shuffle the rest and duplicate some; begin must come first (agents ignore data for unknown transfers).
      const pool = [...rest, ...rest.filter((_, i) => i % 3 === 0)];
      const it = rnd[Symbol.iterator]();
      for (let i = pool.length - 1; i > 0; i--) {
        const j = it.next().value % (i + 1);
        [pool[i], pool[j]] = [pool[j]!, pool[i]!];
      }
      const r = new Reassembler({ ...limits, maxBytes: 1 << 16 }, new ManualClock(0, 1_780_000_000_000));
      const outs = [begin!, ...pool].map((m) => r.accept(m));
      const done = outs.filter((o) => o.kind === 'complete');
      return done.length === 1 && done[0]!.kind === 'complete' && Buffer.from(done[0]!.data).equals(Buffer.from(data)) && !outs.some((o) => o.kind === 'failed');
    }),
    { numRuns: 200 },
  );
  t.pass();
});

test('rollback command payloads: empty, with request id, or refused', (t) => {
  t.deepEqual(decodeRollback(new Uint8Array(0)), { request: null, direction: 'back' });
  t.deepEqual(decodeRollback(Buffer.from(encodeRollback('rb-12345678'))), { request: 'rb-12345678', direction: 'back' });
  t.deepEqual(decodeRollback(Buffer.from(encodeRollback('rb-12345678', 'forward'))), { request: 'rb-12345678', direction: 'forward' });
  t.throws(() => decodeRollback(Buffer.from('{"proto":"fer-model-rollback/1","direction":"sideways"}')), { message: /direction = "sideways"/ });
  t.throws(() => decodeRollback(Buffer.from('{"proto":"other"}')), { message: /proto/ });
  t.throws(() => decodeRollback(Buffer.from('junk')), { message: /neither empty nor JSON/ });
});

const active: ActiveInfo = { name: 'fer-vgg-s', version: '1.0.0', sha256: 'c'.repeat(64), source: 'installed', tag: 'fer-vgg-s-1.0.0-cccccccc', dir: '/x', labels: ['a'] };

test('status payload: installed/latest versions for Home Assistant and the last result with its reason', (t) => {
  const last: UpdateResult = {
    ok: false, action: 'install', id: 'transfer-1', reason: 'model_untrusted', message: 'bundle is signed by key x'.padEnd(400, '.'),
    offered: { name: 'fer-vgg-s', version: '1.1.0', sha256: 'd'.repeat(64) }, active, wallMs: 1_780_000_000_000,
  };
  const s = buildStatus({ agentId: 'pi-1', groups: ['kitchen'], active, last, latestVersion: '1.1.0', inProgress: false, wallMs: 1_780_000_000_500 });
  t.is(s.installed_version, '1.0.0');
  t.is(s.latest_version, '1.1.0');
  t.is(s.last_update?.reason, 'model_untrusted');
  t.is(s.last_update?.at, new Date(1_780_000_000_000).toISOString());
  t.is(s.release_summary.length, 255);
  t.true(s.release_summary.startsWith('rejected (model_untrusted)'));
  const back = parseStatus(Buffer.from(JSON.stringify(s)));
  t.deepEqual(back, s);
  t.true(statusMatchesTarget(s, 'kitchen') && statusMatchesTarget(s, 'all') && statusMatchesTarget(s, 'pi-1'));
  t.false(statusMatchesTarget(s, 'pi-2'));
  t.is(parseStatus(Buffer.from('{"proto":"x"}')), null);
  const fresh = buildStatus({ agentId: 'pi-1', groups: [], active, last: null, latestVersion: null, inProgress: true, wallMs: 0 });
  t.is(fresh.latest_version, '1.0.0');
  t.is(fresh.last_update, null);
});

