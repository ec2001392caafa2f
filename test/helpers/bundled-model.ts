/**
 * The bundled default's own name, read from its manifest: tests that check "the agent serves the bundled model" hold
 * whichever release sits in agent/assets/models/fer-default, and still fail when something else is served.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { bundledModelDir } from '../../agent/core/paths.js';

const manifest = JSON.parse(readFileSync(path.join(bundledModelDir, 'manifest.json'), 'utf8')) as { name: string; runtime?: { flip_tta?: string } };

export const bundledModelName: string = manifest.name;

/** The release's word on flip TTA (`runtime.flip_tta`, agent/models/BUNDLE.md): 'off' keeps `auto` from mirroring. */
export const bundledFlipTtaWord: string = manifest.runtime?.flip_tta ?? 'auto';

/** The bundled model's name escaped for a RegExp, to match "name@version" in what the agent prints. */
export const bundledNamePattern: string = bundledModelName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
