/** convict formats the schema uses: strict booleans, unit interval, string lists, group names, numeric ranges. */
import convict from 'convict';

/** Agent ids, group names and camera ids. */
export const ID_RE = /^[a-zA-Z0-9_-]{1,64}$/;

// convict's own Boolean turns every string but 'false' into true, so FER_STDOUT=0 or `--set x=no` would switch a
// thing on. Only the usual spellings are accepted; anything else fails with the key named.
const TRUE_WORDS = ['true', '1', 'yes', 'on'];
const FALSE_WORDS = ['false', '0', 'no', 'off'];
convict.addFormat({
  name: 'bool',
  validate(val: unknown) {
    if (typeof val !== 'boolean') throw new Error('expected true or false (also 1/0, yes/no, on/off)');
  },
  coerce: (v: unknown) => {
    if (typeof v !== 'string') return v;
    const w = v.trim().toLowerCase();
    return TRUE_WORDS.includes(w) ? true : FALSE_WORDS.includes(w) ? false : v;
  },
});

// model.flip_tta: a boolean as above, or auto.
convict.addFormat({
  name: 'bool-or-auto',
  validate(val: unknown) {
    if (typeof val !== 'boolean' && val !== 'auto') throw new Error('expected auto, true or false (also 1/0, yes/no, on/off)');
  },
  coerce: (v: unknown) => {
    if (typeof v !== 'string') return v;
    const w = v.trim().toLowerCase();
    return w === 'auto' ? 'auto' : TRUE_WORDS.includes(w) ? true : FALSE_WORDS.includes(w) ? false : v;
  },
});

convict.addFormat({
  name: 'unit',
  validate(val: unknown) {
    if (typeof val !== 'number' || !Number.isFinite(val) || val < 0 || val > 1) throw new Error('expected a number in [0, 1]');
  },
  coerce: (v: unknown) => (typeof v === 'string' ? Number(v) : v),
});

convict.addFormat({
  name: 'string-array',
  validate(val: unknown) {
    if (!Array.isArray(val) || val.some((x) => typeof x !== 'string')) throw new Error('expected an array of strings');
  },
  coerce: (v: unknown) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v),
});

convict.addFormat({
  name: 'group-list',
  validate(val: unknown) {
    if (!Array.isArray(val) || val.some((g) => typeof g !== 'string' || !ID_RE.test(g) || g === 'all')) {
      throw new Error('expected an array of group names of 1-64 characters of a-z, A-Z, 0-9, _ or - (not "all")');
    }
  },
  coerce: (v: unknown) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v),
});

/** A convict format for a range (registered once per range): strings (env, flags) are read as numbers first. */
export function rangeFormat([min, max, integer]: readonly [number, number, boolean?]): string {
  const name = `${integer ? 'int' : 'number'}[${min},${max}]`;
  try {
    convict.addFormat({
      name,
      validate(val: unknown) {
        if (typeof val !== 'number' || !Number.isFinite(val) || val < min || val > max || (integer && !Number.isInteger(val))) {
          throw new Error(`expected ${integer ? 'an integer' : 'a number'} in [${min}, ${max}]`);
        }
      },
      coerce: (v: unknown) => (typeof v === 'string' && /^\s*-?\d+(\.\d+)?(e[+-]?\d+)?\s*$/i.test(v) ? Number(v) : v),
    });
  } catch {
    // already registered by an earlier key with the same range
  }
  return name;
}
