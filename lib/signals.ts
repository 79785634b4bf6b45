/**
 * Optional SIGINT/SIGTERM/SIGHUP handling (`handleSignals`), shared by every manager in the
 * process: one listener per signal, whatever the number of managers.
 */

/** Something that can end all of its sessions synchronously. */
export interface ShutdownTarget {
  shutdownSync(): void;
}

const SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const targets = new Set<ShutdownTarget>();
let installed = false;

function onSignal(signal: NodeJS.Signals): void {
  // Counted before the shutdowns: the last target's shutdown unregisters this very listener.
  const programListens = process.listenerCount(signal) > 1;
  for (const t of [...targets]) t.shutdownSync();
  // If the program has no handler of its own, behave as if we had none: die by the signal.
  if (!programListens) {
    uninstall();
    process.kill(process.pid, signal);
  }
}

function uninstall(): void {
  for (const s of SIGNALS) process.off(s, onSignal);
  installed = false;
}

/** Registers a manager for signal shutdown. */
export function handleSignalsFor(t: ShutdownTarget): void {
  targets.add(t);
  if (!installed) {
    installed = true;
    for (const s of SIGNALS) process.on(s, onSignal);
  }
}

/** Unregisters a closed manager; the listeners go when no manager needs them. */
export function stopHandlingSignalsFor(t: ShutdownTarget): void {
  targets.delete(t);
  if (targets.size === 0 && installed) uninstall();
}
