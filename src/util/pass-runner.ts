// One reconciling pass at a time on its own turn of the event loop: requests while
// one is waiting coalesce into it, and a pass that failed asks for one retry later
// (a timer that does not keep the process alive). The node network and the Service
// maps run their passes this way, off the CNI path.
export interface PassRunner {
  /** a pass soon (coalesced) */
  schedule(): void;
  /** a pass after retryMs, unless one is already armed */
  retryLater(): void;
  /** a pass is waiting for its turn */
  readonly scheduled: boolean;
  close(): void;
}

export function createPassRunner(pass: () => void, retryMs: number): PassRunner {
  let scheduled = false;
  let retry: NodeJS.Timeout | null = null;
  let closed = false;
  const runner: PassRunner = {
    schedule() {
      if (scheduled || closed) return;
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        if (!closed) pass();
      });
    },
    retryLater() {
      if (retry !== null || closed) return;
      retry = setTimeout(() => {
        retry = null;
        runner.schedule();
      }, retryMs);
      retry.unref();
    },
    get scheduled() {
      return scheduled;
    },
    close() {
      closed = true;
      if (retry !== null) clearTimeout(retry);
    },
  };
  return runner;
}
