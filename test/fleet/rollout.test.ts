/** Staged rollouts, the pure part: the --canary forms, which agents are picked, and when a canary is unhealthy. */
import test from 'ava';
import { canaryProblem, parseCanarySpec, pickCanaries, type CanaryObservation } from '../../agent/fleet/rollout.js';
import type { StatusPayload } from '../../agent/models/transport.js';

test('--canary: a count, a share, or a group; anything else is refused', (t) => {
  t.deepEqual(parseCanarySpec('2'), { count: 2 });
  t.deepEqual(parseCanarySpec('10%'), { percent: 10 });
  t.deepEqual(parseCanarySpec('group:kitchen'), { group: 'kitchen' });
  for (const bad of ['0', '0%', '150%', 'group:', 'two', '-1']) t.is(parseCanarySpec(bad), null, bad);
});

test('canaries: online agents only, in id order, at least one; a group takes its online members', (t) => {
  const agents = ['pi-3', 'pi-1', 'pi-2', 'pi-4'].map((agent_id, i) => ({ agent_id, groups: i % 2 ? ['kitchen'] : [] }));
  const online = (id: string): boolean => id !== 'pi-1';
  t.deepEqual(pickCanaries(agents, online, { count: 2 }), ['pi-2', 'pi-3']);
  t.deepEqual(pickCanaries(agents, online, { percent: 10 }), ['pi-2'], 'ceil, at least one');
  t.deepEqual(pickCanaries(agents, online, { group: 'kitchen' }), ['pi-4'], 'pi-1 is in the group too, but offline');
});

function obs(over: Partial<CanaryObservation> & { version?: string; state?: string } = {}): CanaryObservation {
  const version = over.version ?? '2.0.0';
  const status = {
    agent_id: 'pi-1', groups: [], active: { name: 'n', version, sha256: 'a', source: 'installed', tag: null },
    release: { id: 'rel-1', target: 'pi-1', version: '2.0.0', state: over.state ?? 'converged', reason: over.state === 'failed' ? 'model_selftest_failed' : null, message: 'm', at: '' },
  } as unknown as StatusPayload;
  return {
    status,
    online: true,
    before: { fps: 5, events_dropped: 0, frames_corrupt: 1, sources_failed: 0 },
    now: { fps: 5, model_version: '2.0.0', events_dropped: 0, frames_corrupt: 1, sources_failed: 0 },
    ...over,
  };
}

test('a canary is healthy when it runs the version, reports from it, frames flow and errors stay flat; each failure says why', (t) => {
  t.is(canaryProblem('pi-1', 'rel-1', '2.0.0', obs()), null);
  t.regex(canaryProblem('pi-1', 'rel-1', '2.0.0', obs({ state: 'failed' }))!, /failed the release \[model_selftest_failed\]/);
  t.regex(canaryProblem('pi-1', 'rel-1', '2.0.0', obs({ online: false }))!, /went offline/);
  t.regex(canaryProblem('pi-1', 'rel-1', '2.0.0', obs({ version: '1.0.0' }))!, /is not running 2.0.0/);
  t.regex(canaryProblem('pi-1', 'rel-1', '2.0.0', obs({ now: { fps: 5, model_version: '1.0.0' } }))!, /no diagnostics from 2.0.0/);
  t.regex(canaryProblem('pi-1', 'rel-1', '2.0.0', obs({ now: { fps: 0, model_version: '2.0.0', frames_corrupt: 1 } }))!, /frames stopped flowing/);
  t.regex(canaryProblem('pi-1', 'rel-1', '2.0.0', obs({ now: { fps: 5, model_version: '2.0.0', frames_corrupt: 4 } }))!, /error counters rose by 3/);
  t.is(canaryProblem('pi-1', 'rel-1', '2.0.0', obs({ before: { fps: 0 }, now: { fps: 0, model_version: '2.0.0' } })), null, 'no frames before (no camera): none expected after');
});
