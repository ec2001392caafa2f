/** Which cameras are paused, as the MQTT side knows it; features react to changes (state JSON, paused topics, store). */
export type PausedListener = (cameraId: string, paused: boolean, announce: boolean) => void;

export class PausedCameras {
  private readonly map = new Map<string, boolean>();
  private readonly listeners: PausedListener[] = [];
  private readonly restoredListeners: Array<(cameraId: string) => void> = [];

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

  /** Called when a camera turns out to have been paused since before the restart (its pause read back late). */
  onRestoredPause(fn: (cameraId: string) => void): void {
    this.restoredListeners.push(fn);
  }

  /** A pause read back from memory after the camera already ran: whatever it raised meanwhile should not exist. */
  restoredPause(cameraId: string): void {
    this.note(cameraId, true, true);
    for (const fn of this.restoredListeners) fn(cameraId);
  }

  snapshot(): Record<string, boolean> {
    return Object.fromEntries(this.map);
  }
}
