// ADD is a straight pipeline: each step that changes the system registers how to
// undo itself, so a failure at any later step leaves nothing behind (ptp's cmdAdd).

export interface RollbackLog {
  warn(obj: object, msg: string): void;
}

export class Rollback {
  private readonly steps: { what: string; undo: () => unknown }[] = [];

  add(what: string, undo: () => unknown): void {
    this.steps.push({ what, undo });
  }

  /** Forget every step: the pipeline finished and its effects are meant to stay. */
  commit(): void {
    this.steps.length = 0;
  }

  /** Undo in reverse order. An undo that fails is logged and the rest still run. */
  async run(log: RollbackLog): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.undo();
      } catch (err) {
        log.warn({ err, step: step.what }, 'rollback step failed');
      }
    }
  }
}
