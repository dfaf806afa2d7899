// Coalesces many updates (a backlog of a thousand records) into one redraw.

export function coalesced(run: () => void, delayMs = 30): () => void {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    setTimeout(() => {
      pending = false;
      run();
    }, delayMs);
  };
}
