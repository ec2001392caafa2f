import test from 'ava';
import { FerError } from '../../agent/core/errors.js';
import { checkNotDowngrade, compareVersions } from '../../agent/models/version-order.js';

test('semver precedence, as semver.org lists it; build metadata ignored', (t) => {
  const ordered = ['1.0.0-alpha', '1.0.0-alpha.1', '1.0.0-alpha.beta', '1.0.0-beta', '1.0.0-beta.2', '1.0.0-beta.11', '1.0.0-rc.1', '1.0.0', '1.0.1', '1.2.0', '1.10.0', '2.0.0'];
  for (let i = 0; i < ordered.length; i++) {
    for (let j = 0; j < ordered.length; j++) t.is(Math.sign(compareVersions(ordered[i]!, ordered[j]!)), Math.sign(i - j), `${ordered[i]} vs ${ordered[j]}`);
  }
  t.is(compareVersions('1.2.0+build.5', '1.2.0'), 0);
});

test('checkNotDowngrade: forward and the same bundle pass; older or another bundle under the same version do not', (t) => {
  const active = { name: 'm', version: '1.2.0', sha256: 'a' };
  t.notThrows(() => checkNotDowngrade(active, { name: 'm', version: '1.3.0', sha256: 'b' }));
  t.notThrows(() => checkNotDowngrade(active, { name: 'm', version: '1.2.0', sha256: 'a' }));
  for (const offered of [{ name: 'm', version: '1.1.9', sha256: 'b' }, { name: 'm', version: '1.2.0-rc.1', sha256: 'b' }, { name: 'm', version: '1.2.0', sha256: 'c' }]) {
    const err = t.throws(() => checkNotDowngrade(active, offered), { instanceOf: FerError });
    t.is(err?.reason, 'model_downgrade');
  }
});
