/**
 * The bundled default's own name, read from its manifest: tests that check "the agent serves the bundled model" hold
 * whichever release sits in agent/assets/models/fer-default, and still fail when something else is served.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { bundledModelDir } from '../../agent/core/paths.js';

export const bundledModelName: string = (JSON.parse(readFileSync(path.join(bundledModelDir, 'manifest.json'), 'utf8')) as { name: string }).name;

/** The bundled model's name escaped for a RegExp, to match "name@version" in what the agent prints. */
export const bundledNamePattern: string = bundledModelName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
