/** One redrawn status line on a terminal; silent otherwise (so piped output stays machine-readable). */
export class ProgressLine {
  private last = 0;
  constructor(private readonly stream: NodeJS.WriteStream, private readonly label: string) {}

  update(text: string): void {
    if (!this.stream.isTTY) return;
    const now = Date.now();
    if (now - this.last < 100) return;
    this.last = now;
    this.stream.write(`\r${this.label}: ${text}\x1b[K`);
  }

  done(): void {
    if (this.stream.isTTY) this.stream.write('\n');
  }
}
