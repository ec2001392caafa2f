import test from 'ava';
import { cookieName, cookieValue, decideAccess, hostAllowed, hostName, parseCookies, type AccessInput } from '../../agent/web/access.js';

const input = (over: Partial<AccessInput>): AccessInput => ({
  token: '',
  port: 8090,
  url: new URL('http://x/'),
  cookieHeader: undefined,
  hostHeader: '127.0.0.1:8090',
  ownNames: ['pi', 'pi.local'],
  ...over,
});

test('host names: port and brackets are stripped', (t) => {
  t.is(hostName('127.0.0.1:8090'), '127.0.0.1');
  t.is(hostName('[::1]:8090'), '::1');
  t.is(hostName('Pi.Local'), 'pi.local');
});

test('without a token only this machine, IP literals and localhost are served (no DNS rebinding)', (t) => {
  for (const h of ['127.0.0.1:8090', '[::1]:8090', '192.168.1.20', 'localhost:8090', 'app.localhost', 'pi:8090', 'PI.local']) t.true(hostAllowed(h, ['pi', 'pi.local']), h);
  for (const h of [undefined, 'evil.example', 'pi.evil.example:8090']) t.false(hostAllowed(h, ['pi', 'pi.local']), String(h));
  const d = decideAccess(input({ hostHeader: 'evil.example' }));
  t.deepEqual(d.ok ? 'ok' : d.status, 403);
  t.true(decideAccess(input({})).ok);
});

test('with a token: the query sets an HttpOnly cookie holding an HMAC, the cookie alone then suffices', (t) => {
  const q = decideAccess(input({ token: 's3cret', url: new URL('http://x/?token=s3cret'), hostHeader: 'evil.example' }));
  t.true(q.ok);
  const set = q.ok ? (q.setCookie ?? '') : '';
  t.regex(set, /^fer_live_8090=[A-Za-z0-9_-]+; Path=\/; HttpOnly; SameSite=Strict$/);
  t.false(set.includes('s3cret'));
  const value = parseCookies(set.split(';')[0]).get(cookieName(8090)) ?? '';
  t.is(value, cookieValue('s3cret'));
  t.true(decideAccess(input({ token: 's3cret', cookieHeader: `a=b; fer_live_8090=${value}` })).ok);
  // The cookie of another port's agent, or of another token, is not accepted.
  t.false(decideAccess(input({ token: 's3cret', port: 8091, cookieHeader: `fer_live_8090=${value}` })).ok);
  t.false(decideAccess(input({ token: 'other', cookieHeader: `fer_live_8090=${value}` })).ok);
});

test('with a token: nothing, a wrong token or a forged cookie is 401', (t) => {
  for (const over of [{}, { url: new URL('http://x/?token=s3cre') }, { url: new URL('http://x/?token=') }, { cookieHeader: 'fer_live_8090=s3cret' }]) {
    const d = decideAccess(input({ token: 's3cret', ...over }));
    t.false(d.ok);
    if (!d.ok) t.is(d.status, 401);
  }
});
