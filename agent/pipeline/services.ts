/** Optional parts started beside the frame loops, each only when its config asks for it. */
import type { Agent } from './agent.js';

export async function startServices(agent: Agent): Promise<void> {
  void agent;
}
