/** Runs `work` while a 10 ms timer ticks; returns the longest gap between ticks (event-loop blocking). */
export const longestEventLoopGapDuring = async (work: () => Promise<unknown>): Promise<number> => {
  let last = performance.now();
  let longestGap = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longestGap = Math.max(longestGap, now - last);
    last = now;
  }, 10);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return longestGap;
};
