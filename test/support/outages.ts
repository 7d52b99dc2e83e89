// The windows in which a test stopped part of the control plane on purpose. Simulated agents and
// kubelets bridge them the way real ones wait out a network blip: a call that failed because an
// outage began while it ran is made again once the outage is over. A failure outside any outage
// is still a failure.
export class Outages {
  private epoch = 0;
  private down = false;
  private over: Promise<void> = Promise.resolve();
  private end: () => void = () => {};

  begin(): void {
    this.epoch += 1;
    this.down = true;
    this.over = new Promise((resolve) => {
      this.end = resolve;
    });
  }

  finish(): void {
    this.down = false;
    this.end();
  }

  readonly through = async <T>(call: () => Promise<T>): Promise<T> => {
    for (;;) {
      await this.over;
      const epoch = this.epoch;
      try {
        return await call();
      } catch (err) {
        if (this.epoch === epoch && !this.down) throw err;
      }
    }
  };
}
