/**
 * End to end: a real Agent on the bundled sample frames, the live view in front of it, and Debian's Chromium
 * (driven by playwright-core) loading the page. Checks that frames, boxes and labels are drawn and that the event
 * timeline grows; saves test-artifacts/live-view.png (FER_UPDATE_SCREENSHOT=1 also refreshes agent/web/screenshot.png).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { chromium, type Page } from 'playwright-core';
import sharp from 'sharp';
import { loadConfig } from '../../agent/config/load.js';
import { silentLogger } from '../../agent/core/log.js';
import { packageRoot } from '../../agent/core/paths.js';
import { Agent } from '../../agent/pipeline/agent.js';
import { startLiveView } from '../../agent/web/live-view.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'e2e-live-token';

/** Numbers the page exposes for tests as data attributes. */
async function num(page: Page, selector: string, attr: string): Promise<number> {
  return Number(await page.getAttribute(selector, attr));
}

test('the live view shows the running agent: frames with boxes and labels, bars, a growing timeline, model and config', async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.fail(`${CHROMIUM} is missing: apt-get install -y chromium`);
    return;
  }
  const cfg = loadConfig({
    env: {},
    overrides: { 'mqtt.url': '', 'sinks.stdout.enabled': false, 'web.enabled': true, 'web.port': 0, 'web.token': TOKEN },
  });
  const agent = new Agent(cfg, silentLogger);
  await agent.start();
  const lv = await startLiveView(agent, silentLogger);
  agent.addService(lv);
  const running = agent.run();
  const profile = await mkdtemp(path.join(os.tmpdir(), 'fer-chromium-'));
  t.teardown(async () => {
    await agent.stop();
    await running;
    await rm(profile, { recursive: true, force: true });
  });

  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1280, height: 860 },
  });
  t.teardown(() => context.close());
  const page = context.pages()[0] ?? (await context.newPage());
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  // Console errors include Content-Security-Policy violations.
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(m.text());
  });

  await page.goto(`${lv.url}?token=${TOKEN}`);
  // The token leaves the address bar (the agent set a cookie from it).
  t.false(page.url().includes(TOKEN));

  // Live: frames arrive and faces are boxed and labelled.
  await page.waitForFunction(() => {
    const c = document.getElementById('frame');
    return c !== null && Number(c.dataset.frames) >= 3 && Number(c.dataset.boxes) >= 1;
  }, undefined, { timeout: 30_000 });
  const labels = (await page.getAttribute('#frame', 'data-labels')) ?? '';
  const modelLabels = agent.model.labels;
  t.regex(labels, /#\d+ /);
  t.true(modelLabels.some((l) => labels.includes(l)), `drawn labels "${labels}" name none of ${modelLabels.join(', ')}`);

  // The canvas holds a picture, not the blank background: most pixels differ from it.
  const painted = await page.evaluate(() => {
    const c = document.getElementById('frame') as HTMLCanvasElement;
    const d = (c.getContext('2d') as CanvasRenderingContext2D).getImageData(0, 0, c.width, c.height).data;
    let differ = 0;
    for (let i = 0; i < d.length; i += 4) if (Math.abs(d[i] - 17) + Math.abs(d[i + 1] - 17) + Math.abs(d[i + 2] - 17) > 24) differ++;
    return { fraction: differ / (d.length / 4), width: c.width, height: c.height };
  });
  t.true(painted.fraction > 0.5, `only ${(painted.fraction * 100).toFixed(1)}% of the canvas differs from blank`);
  t.true(painted.width > 0 && painted.height > 0);

  // Per-emotion bars for each face in view: one row per model label.
  await page.waitForFunction(() => Number(document.getElementById('tracks')?.dataset.count) >= 1, undefined, { timeout: 10_000 });
  t.is(await page.locator('#tracks .track').first().locator('.bar-row').count(), modelLabels.length);

  // The timeline grows while we watch.
  await page.waitForFunction(() => Number(document.getElementById('timeline')?.dataset.count) >= 1, undefined, { timeout: 30_000 });
  const before = await num(page, '#timeline', 'data-count');
  await page.waitForFunction((n) => Number(document.getElementById('timeline')?.dataset.count) > n, before, { timeout: 30_000 });
  t.true((await num(page, '#timeline', 'data-count')) > before);
  t.true((await page.locator('#timeline li').count()) > before);

  // Model, engine, fps and latency, and the effective config with its secrets masked.
  const modelText = (await page.textContent('#model')) ?? '';
  t.true(modelText.includes(agent.model.name) && modelText.includes(agent.model.version) && modelText.includes(agent.engine), modelText);
  await page.waitForFunction(() => Number(document.getElementById('stats')?.dataset.fps) > 0, undefined, { timeout: 10_000 });
  t.regex((await page.textContent('#stats')) ?? '', /fps · latency \d+ ms/);
  await page.click('#config-box summary');
  const config = (await page.textContent('#config')) ?? '';
  t.true(config.includes(`"agent_id": "${cfg.agent_id}"`));
  t.true(config.includes('"token": "***"'));
  t.false(config.includes(TOKEN));
  await page.click('#config-box summary');

  // Let a settled emotion show in the picture before the screenshot.
  await page.waitForFunction(() => /#\d+ (?!\S*\?)/.test(document.getElementById('frame')?.dataset.labels ?? ''), undefined, { timeout: 15_000 }).catch(() => undefined);
  const shot = path.join(packageRoot, 'test-artifacts', 'live-view.png');
  await mkdir(path.dirname(shot), { recursive: true });
  await page.screenshot({ path: shot, fullPage: true });
  // The README's copy is palette-compressed to keep the repository small.
  if (process.env.FER_UPDATE_SCREENSHOT === '1') await sharp(shot).png({ palette: true, quality: 85, effort: 10 }).toFile(path.join(packageRoot, 'agent', 'web', 'screenshot.png'));
  t.deepEqual(pageErrors, []);
});
