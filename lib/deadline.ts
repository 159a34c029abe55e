// Firing something at a wall-clock time however far away (a token's expiry can be days out).

/** Longest delay setTimeout takes; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Runs `fire` at `at` (ms since the epoch), however far away; nothing when `at` is undefined. */
export function endAt(at: number | undefined, fire: () => void): { cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    const wait = (at as number) - Date.now();
    if (wait <= 0) return fire();
    timer = setTimeout(arm, Math.min(wait, MAX_TIMER_MS));
    timer.unref();
  };
  if (at !== undefined) arm();
  return { cancel: () => clearTimeout(timer) };
}
