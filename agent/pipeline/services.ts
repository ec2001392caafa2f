/** Optional parts started beside the frame loops, each only when its config asks for it. */
import { startLiveViewIfEnabled } from '../web/live-view.js';
import type { Agent } from './agent.js';

export async function startServices(agent: Agent): Promise<void> {
  const lv = await startLiveViewIfEnabled(agent, agent.log);
  if (lv) agent.addService(lv);
}
