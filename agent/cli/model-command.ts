/** `fer-agent model …` and `fer-agent keys …`: thin adapters to model-cli.ts. */
import { createLogger } from '../core/log.js';
import { keysCli, modelCli } from './model-cli.js';

export const modelCommand = (argv: string[]): Promise<number> => modelCli(argv, createLogger());
export const keysCommand = (argv: string[]): Promise<number> => keysCli(argv, createLogger());
