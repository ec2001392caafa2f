/** `fer-agent model …`, `fer-agent keys …` and `fer-agent fleet …`: thin adapters to model-cli.ts and fleet-cli.ts. */
import { createLogger } from '../core/log.js';
import { fleetCli } from './fleet-cli.js';
import { keysCli, modelCli } from './model-cli.js';

export const modelCommand = (argv: string[]): Promise<number> => modelCli(argv, createLogger());
export const keysCommand = (argv: string[]): Promise<number> => keysCli(argv, createLogger());
export const fleetCommand = (argv: string[]): Promise<number> => fleetCli(argv, createLogger());
