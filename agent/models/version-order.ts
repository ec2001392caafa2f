/**
 * Semantic Versioning 2.0.0 precedence (pure), and the rule that keeps a pushed bundle from taking the agent back:
 * an eavesdropper on the broker who recorded an earlier, validly signed push must not be able to replay it.
 */
import { FerError } from '../core/errors.js';

function parts(v: string): { core: number[]; pre: string[] } {
  const noBuild = v.split('+')[0]!;
  const dash = noBuild.indexOf('-');
  const core = (dash < 0 ? noBuild : noBuild.slice(0, dash)).split('.').map(Number);
  const pre = dash < 0 ? [] : noBuild.slice(dash + 1).split('.');
  return { core, pre };
}

/** < 0 when a precedes b, 0 when equal in precedence (build metadata ignored), > 0 when a follows b. */
export function compareVersions(a: string, b: string): number {
  const x = parts(a);
  const y = parts(b);
  for (let i = 0; i < 3; i++) if (x.core[i] !== y.core[i]) return (x.core[i] ?? 0) - (y.core[i] ?? 0);
  // A release follows its pre-releases; pre-release identifiers compare numerically or as text, shorter first.
  if (!x.pre.length || !y.pre.length) return (x.pre.length ? -1 : 0) + (y.pre.length ? 1 : 0);
  for (let i = 0; i < Math.min(x.pre.length, y.pre.length); i++) {
    const p = x.pre[i]!;
    const q = y.pre[i]!;
    if (p === q) continue;
    const pn = /^\d+$/.test(p);
    const qn = /^\d+$/.test(q);
    if (pn && qn) return Number(p) - Number(q);
    if (pn !== qn) return pn ? -1 : 1;
    return p < q ? -1 : 1;
  }
  return x.pre.length - y.pre.length;
}

/**
 * Throws model_downgrade when `offered` would replace `active` with an older version, or with a different bundle
 * under the same version. The same bundle again is fine (nothing changes); going back is what `rollback` is for.
 */
export function checkNotDowngrade(active: { name: string; version: string; sha256: string }, offered: { name: string; version: string; sha256: string }): void {
  const order = compareVersions(offered.version, active.version);
  if (order < 0) {
    throw new FerError('model_downgrade', `${offered.name} ${offered.version} is older than the active ${active.name} ${active.version}: refused (a pushed model only moves forward; use rollback to go back to a version on the agent)`);
  }
  if (order === 0 && offered.sha256 !== active.sha256) {
    throw new FerError('model_downgrade', `${offered.name} ${offered.version} is a different bundle under the active version ${active.version}: refused (give a new build a new version)`);
  }
}
