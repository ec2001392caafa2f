/** Which cameras are paused, as the MQTT side knows it; features react to changes (state JSON, paused topics, store). */
export type PausedListener = (cameraId: string, paused: boolean, announce: boolean) => void;

export class PausedCameras {
  private readonly map = new Map<string, boolean>();
  private readonly listeners: PausedListener[] = [];

  constructor(readonly cameraIds: readonly string[]) {}

  get(cameraId: string): boolean {
    return this.map.get(cameraId) === true;
  }

  /** Listeners run in the order they were added. */
  onChange(fn: PausedListener): void {
    this.listeners.push(fn);
  }

  /**
   * Records a camera's state; when it changed, tells the listeners. `announce` false: the starting state, which is
   * published with everything else on connect rather than on its own.
   */
  note(cameraId: string, paused: boolean, announce: boolean): void {
    if (!this.cameraIds.includes(cameraId) || this.map.get(cameraId) === paused) return;
    this.map.set(cameraId, paused);
    for (const fn of this.listeners) fn(cameraId, paused, announce);
  }

  snapshot(): Record<string, boolean> {
    return Object.fromEntries(this.map);
  }
}
