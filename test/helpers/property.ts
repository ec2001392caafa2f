/** The one fast-check helper: run counts (FER_SOAK=1 runs many more) and a property check that reports through ava. */
import fc from 'fast-check';

export const LONG = process.env.FER_SOAK === '1';

/** fast-check parameters: `short` runs in the normal suite, 20× as many under `npm run test:soak`. */
export function runs(short: number): { numRuns: number } {
  return { numRuns: LONG ? short * 20 : short };
}

/**
 * Runs a fast-check property and, on failure, fails the ava test with the shrunk counterexample, the error the
 * property raised and the seed to replay it.
 */
export function check<Ts extends [unknown, ...unknown[]]>(t: { fail(message: string): void; pass(): void }, prop: fc.IProperty<Ts>, params: fc.Parameters<Ts>): void {
  const d = fc.check(prop, params);
  if (!d.failed) {
    t.pass();
    return;
  }
  const err = d.errorInstance instanceof Error ? d.errorInstance.message : String(d.errorInstance);
  t.fail(`counterexample ${fc.stringify(d.counterexample)}\n${err}\n(seed ${d.seed}, path ${d.counterexamplePath ?? ''})`);
}
