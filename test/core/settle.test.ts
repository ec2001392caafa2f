import test from 'ava';
import { settleWithin } from '../../agent/core/settle.js';

const never = (): Promise<string> => new Promise<string>(() => undefined);

test('settleWithin: the value when it comes in time; a rejection still rejects', async (t) => {
  t.is(await settleWithin(Promise.resolve('acked'), 1000), 'acked');
  t.is(await settleWithin(Promise.resolve('acked'), Infinity, new AbortController().signal), 'acked');
  await t.throwsAsync(settleWithin(Promise.reject(new Error('refused')), 1000), { message: 'refused' });
});

test('settleWithin: undefined when the time is up or the signal aborts, never a hang', async (t) => {
  t.is(await settleWithin(never(), 10), undefined);
  const ac = new AbortController();
  const waiting = settleWithin(never(), Infinity, ac.signal);
  ac.abort();
  t.is(await waiting, undefined);
  t.is(await settleWithin(never(), Infinity, ac.signal), undefined, 'already aborted: no wait at all');
});

test('settleWithin: Infinity is no limit (a timer of Infinity ms would fire at once)', async (t) => {
  let resolve!: (v: string) => void;
  const late = new Promise<string>((r) => (resolve = r));
  const waiting = settleWithin(late, Infinity);
  setTimeout(() => resolve('late ack'), 30);
  t.is(await waiting, 'late ack');
});

test('settleWithin: a rejection after giving up is not an unhandled rejection', async (t) => {
  let reject!: (e: Error) => void;
  const late = new Promise<string>((_, r) => (reject = r));
  t.is(await settleWithin(late, 5), undefined);
  const unhandled: unknown[] = [];
  const on = (e: unknown): void => void unhandled.push(e);
  process.on('unhandledRejection', on);
  reject(new Error('closed'));
  await new Promise((r) => setTimeout(r, 20));
  process.off('unhandledRejection', on);
  t.deepEqual(unhandled, []);
});
