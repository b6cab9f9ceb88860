// Runs async work one at a time per key, and work of different keys side by side:
// the agent serialises the CNI calls of one attachment (an ADD waiting for its
// policy must not meet a DEL of the same container half-way) and nothing else.
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const mine = before.then(fn, fn);
    // The next in line waits for this one to settle, whichever way it ends.
    const tail = mine.catch(() => undefined);
    this.tails.set(key, tail);
    try {
      return await mine;
    } finally {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** keys with work queued or running */
  get size(): number {
    return this.tails.size;
  }
}
