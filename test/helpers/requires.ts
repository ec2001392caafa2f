/**
 * Tests that need something a machine may lack (a tool, root): decided when the test is declared, never by a
 * t.pass() inside a test that did not run. Under CI (which installs everything) a missing part is a failure; on a
 * developer's machine the test is declared skipped, with the reason in its title.
 */
import test, { type ImplementationFn } from 'ava';

export function testRequiring(missing: string | null, title: string, fn: ImplementationFn<[]>): void {
  if (!missing) test(title, fn);
  else if (process.env.CI) test(title, (t) => t.fail(`cannot run: ${missing}`));
  else test.skip(`${title} (skipped: ${missing})`, fn);
}

export function serialRequiring(missing: string | null, title: string, fn: ImplementationFn<[]>): void {
  if (!missing) test.serial(title, fn);
  else if (process.env.CI) test.serial(title, (t) => t.fail(`cannot run: ${missing}`));
  else test.skip(`${title} (skipped: ${missing})`, fn);
}
