/**
 * Other work on the event loop, for tests that check a long task lets it in: counts each turn it gets (a
 * setImmediate callback that schedules the next) until stopped.
 */
export class EventLoopTurns {
  private turns = 0;
  private running = true;

  constructor() {
    setImmediate(this.tick);
  }

  get count(): number {
    return this.turns;
  }

  stop(): void {
    this.running = false;
  }

  private readonly tick = (): void => {
    if (!this.running) return;
    this.turns += 1;
    setImmediate(this.tick);
  };
}
