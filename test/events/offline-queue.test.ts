import test from 'ava';
import fc from 'fast-check';
import { OfflineQueue } from '../../agent/events/offline-queue.js';

test('keeps order and hands out only entries younger than the max age', (t) => {
  const q = new OfflineQueue<string>(10, 1000);
  q.push('a', 0, 0);
  q.push('b', 500, 500);
  q.push('c', 900, 900);
  // At 1200 'a' is 1200 ms old (too old), 'b' 700 ms, 'c' 300 ms.
  const first = q.shift(1200);
  t.is(first.entry?.item, 'b');
  t.deepEqual(first.dropped.map((d) => [d.item, d.reason]), [['a', 'expired']]);
  t.is(q.shift(1200).entry?.item, 'c');
  t.is(q.shift(1200).entry, undefined);
  t.deepEqual(q.stats(), { size: 0, droppedExpired: 1, droppedOverflow: 0 });
});

test('an entry exactly max age old is too old', (t) => {
  const q = new OfflineQueue<string>(10, 1000);
  q.push('a', 0, 0);
  t.is(q.shift(1000).entry, undefined);
  t.is(q.stats().droppedExpired, 1);
});

test('beyond the cap the oldest entries are dropped and counted', (t) => {
  const q = new OfflineQueue<number>(3, 60_000);
  const dropped = [1, 2, 3, 4, 5].flatMap((n) => q.push(n, n, n));
  t.deepEqual(dropped.map((d) => [d.item, d.reason]), [[1, 'overflow'], [2, 'overflow']]);
  t.deepEqual([q.shift(10).entry?.item, q.shift(10).entry?.item, q.shift(10).entry?.item], [3, 4, 5]);
  t.is(q.stats().droppedOverflow, 2);
});

test('age counts from when the event happened, not from when it was queued', (t) => {
  const q = new OfflineQueue<string>(10, 1000);
  const dropped = q.push('late', 0, 1500);
  t.deepEqual(dropped.map((d) => d.reason), ['expired']);
  t.is(q.size, 0);
});

test('requeued entries go back to the front in their order', (t) => {
  const q = new OfflineQueue<string>(10, 10_000);
  q.push('c', 30, 30);
  q.requeue([{ item: 'a', bornMono: 10 }, { item: 'b', bornMono: 20 }], 40);
  t.deepEqual([q.shift(50).entry?.item, q.shift(50).entry?.item, q.shift(50).entry?.item], ['a', 'b', 'c']);
});

test('remove takes entries out without counting them as dropped', (t) => {
  const q = new OfflineQueue<string>(10, 10_000);
  q.push('a', 0, 0);
  q.push('b', 0, 0);
  t.is(q.remove((x) => x === 'a'), 1);
  t.deepEqual(q.stats(), { size: 1, droppedExpired: 0, droppedOverflow: 0 });
});

test('rejects a negative cap', (t) => {
  t.throws(() => new OfflineQueue<string>(-1, 10), { instanceOf: RangeError });
});

type Op = { kind: 'push'; dt: number; age: number } | { kind: 'shift'; dt: number } | { kind: 'prune'; dt: number };

test('property: every event leaves exactly once (delivered fresh, in order, or counted as dropped), size never exceeds the cap', (t) => {
  const op: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ kind: fc.constant('push' as const), dt: fc.integer({ min: 0, max: 400 }), age: fc.integer({ min: 0, max: 1500 }) }),
    fc.record({ kind: fc.constant('shift' as const), dt: fc.integer({ min: 0, max: 400 }) }),
    fc.record({ kind: fc.constant('prune' as const), dt: fc.integer({ min: 0, max: 400 }) }),
  );
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 2000 }), fc.array(op, { maxLength: 80 }), (cap, maxAge, ops) => {
      const q = new OfflineQueue<number>(cap, maxAge);
      let now = 0;
      let next = 0;
      const born = new Map<number, number>();
      const out: number[] = [];
      const dropped: number[] = [];
      for (const o of ops) {
        now += o.dt;
        if (o.kind === 'push') {
          const id = next++;
          born.set(id, now - o.age);
          dropped.push(...q.push(id, now - o.age, now).map((d) => d.item));
        } else if (o.kind === 'shift') {
          const r = q.shift(now);
          dropped.push(...r.dropped.map((d) => d.item));
          if (r.entry) {
            out.push(r.entry.item);
            if (!(now - (born.get(r.entry.item) as number) < maxAge)) return false;
          }
        } else dropped.push(...q.prune(now).map((d) => d.item));
        if (q.size > cap) return false;
      }
      const left = q.clear().map((e) => e.item);
      const all = [...out, ...dropped, ...left].sort((a, b) => a - b);
      const st = q.stats();
      const inOrder = out.every((x, i) => i === 0 || out[i - 1] < x);
      return inOrder && all.length === next && all.every((x, i) => x === i) && st.droppedExpired + st.droppedOverflow === dropped.length;
    }),
  );
  t.pass();
});
