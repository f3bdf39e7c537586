/** Small helpers for racing work against an AbortSignal without leaking listeners. */

/** Resolves when `signal` aborts (at once if it already has); `dispose` removes the listener. */
export function whenAborted(signal: AbortSignal): { promise: Promise<void>; dispose(): void } {
  let dispose = (): void => undefined;
  const promise = new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = (): void => resolve();
    signal.addEventListener('abort', onAbort, { once: true });
    dispose = () => signal.removeEventListener('abort', onAbort);
  });
  return { promise, dispose: () => dispose() };
}

/** Waits for `promise` at most `ms`; never rejects (waits whose outcome is not needed: diagnostics, clean-up). */
export async function settleWithin(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    promise.catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}
