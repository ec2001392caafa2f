/** Reading a classifier's probability rows (`k` per input, packed): which class it picks, and how clearly. */

/** Index of the largest of `v[offset .. offset + k)` (the first one on a tie). */
export function argmax(v: ArrayLike<number>, offset: number, k: number): number {
  let best = 0;
  for (let j = 1; j < k; j++) if (v[offset + j]! > v[offset + best]!) best = j;
  return best;
}

/** How far the top value of `v[offset .. offset + k)` is above the second. */
export function lead(v: ArrayLike<number>, offset = 0, k = v.length): number {
  let a = -Infinity;
  let b = -Infinity;
  for (let j = 0; j < k; j++) {
    const x = v[offset + j]!;
    if (x > a) [a, b] = [x, a];
    else if (x > b) b = x;
  }
  return k < 2 ? 0 : a - b;
}
