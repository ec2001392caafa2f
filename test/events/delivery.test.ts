import test from 'ava';
import fc from 'fast-check';
import type { Clock } from '../../agent/core/clock.js';
import { EventDelivery, type DeliveryTransport } from '../../agent/events/delivery.js';

/** A link whose acknowledgements the test gives by hand, as a broker would (or would not). */
class ManualLink implements DeliveryTransport<string> {
  sent: string[] = [];
  pending: Array<{ item: string; done: (err?: Error) => void }> = [];
  send(item: string, done: (err?: Error) => void): void {
    this.sent.push(item);
    this.pending.push({ item, done });
  }
  ackAll(): void {
    for (const p of this.pending.splice(0)) p.done();
  }
}

function clockAt(): Clock & { t: number } {
  const c = { t: 0, mono: () => c.t, wall: () => 1_700_000_000_000 + c.t };
  return c;
}

test('online: sends at once; acknowledged events are never sent again after a reconnect', (t) => {
  const link = new ManualLink();
  const clock = clockAt();
  const d = new EventDelivery({ maxItems: 10, maxAgeMs: 60_000 }, link, clock);
  d.setOnline(true);
  d.submit('e1', 0);
  d.submit('e2', 0);
  link.ackAll();
  d.setOnline(false);
  d.setOnline(true);
  t.deepEqual(link.sent, ['e1', 'e2']);
  t.is(d.stats().delivered, 2);
  t.is(d.depth(), 0);
});

test('offline events wait and go out on reconnect, in order, only while young enough', (t) => {
  const link = new ManualLink();
  const clock = clockAt();
  const dropped: string[] = [];
  const d = new EventDelivery({ maxItems: 10, maxAgeMs: 5000 }, link, clock, (ds) => dropped.push(...ds.map((x) => `${x.item}:${x.reason}`)));
  clock.t = 1000;
  d.submit('old', 1000);
  clock.t = 5000;
  d.submit('young', 5000);
  t.is(link.sent.length, 0);
  clock.t = 7000; // 'old' is 6 s old
  d.setOnline(true);
  t.deepEqual(link.sent, ['young']);
  t.deepEqual(dropped, ['old:expired']);
});

test('an event in flight when the link drops is re-sent once after reconnect, never twice', (t) => {
  const link = new ManualLink();
  const clock = clockAt();
  const d = new EventDelivery({ maxItems: 10, maxAgeMs: 60_000 }, link, clock);
  d.setOnline(true);
  d.submit('a', 0);
  link.ackAll();
  d.submit('b', 0); // no PUBACK before the drop
  link.pending.splice(0); // the old connection's callbacks never fire
  d.setOnline(false);
  d.submit('c', 0);
  d.setOnline(true);
  t.deepEqual(link.sent, ['a', 'b', 'b', 'c']);
  link.ackAll();
  d.setOnline(false);
  d.setOnline(true);
  t.deepEqual(link.sent, ['a', 'b', 'b', 'c']);
});

test('a late acknowledgement for an event already put back removes it from the queue', (t) => {
  const link = new ManualLink();
  const clock = clockAt();
  const d = new EventDelivery({ maxItems: 10, maxAgeMs: 60_000 }, link, clock);
  d.setOnline(true);
  d.submit('a', 0);
  const late = link.pending.splice(0);
  d.setOnline(false);
  late[0].done(); // the broker had it after all
  d.setOnline(true);
  t.deepEqual(link.sent, ['a']);
  t.is(d.depth(), 0);
});

test('property: whatever drops and lost acknowledgements happen, no acknowledged event is sent again and every event is delivered in the end', (t) => {
  type Op = 'submit' | 'ack' | 'drop' | 'up' | 'lose';
  fc.assert(
    fc.property(fc.array(fc.constantFrom<Op>('submit', 'ack', 'drop', 'up', 'lose'), { maxLength: 60 }), (ops) => {
      const acked = new Set<string>();
      let resentAfterAck = 0;
      const link = new ManualLink();
      const send = link.send.bind(link);
      link.send = (item, done) => {
        if (acked.has(item)) resentAfterAck++;
        send(item, done);
      };
      const ack = (): void => {
        for (const p of link.pending.splice(0)) {
          acked.add(p.item);
          p.done();
        }
      };
      const d = new EventDelivery({ maxItems: 1000, maxAgeMs: 1e9 }, link, clockAt());
      let n = 0;
      for (const o of ops) {
        if (o === 'submit') d.submit(`e${n++}`, 0);
        else if (o === 'ack') ack();
        else if (o === 'lose') link.pending.splice(0); // the acknowledgements die with the connection
        else if (o === 'drop') {
          link.pending.splice(0);
          d.setOnline(false);
        } else d.setOnline(true);
      }
      // Then a reconnect and a stable link: everything still owed goes out and is acknowledged.
      link.pending.splice(0);
      d.setOnline(false);
      d.setOnline(true);
      ack();
      return resentAfterAck === 0 && acked.size === n && d.depth() === 0;
    }),
  );
  t.pass();
});

test('every "online" drains what waits, even when the link was already taken for online (issue 31 M2)', (t) => {
  const link = new ManualLink();
  const d = new EventDelivery({ maxItems: 10, maxAgeMs: 60_000 }, link, clockAt());
  d.setOnline(true);
  d.submit('e1', 0);
  // The send failed (the link had in fact gone): the event waits again, while the delivery still says online.
  link.pending.splice(0)[0]!.done(new Error('not connected'));
  t.is(d.depth(), 1);
  d.setOnline(true); // the next connect sequence's `online` phase
  t.deepEqual(link.sent, ['e1', 'e1']);
  link.ackAll();
  t.is(d.depth(), 0);
});
