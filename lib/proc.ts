/**
 * Reading /proc (Linux): every place that looks at processes (pool memory, group exits, usage,
 * profiles' leftover Chromes) walks it through these two generators. Elsewhere they yield nothing.
 */
import fs from 'node:fs';

/** Pids of the processes in /proc now (any owner). */
export function* procPids(): Generator<number> {
  let names: string[];
  try {
    names = fs.readdirSync('/proc');
  } catch {
    return; // no /proc (macOS)
  }
  for (const name of names) if (/^\d+$/.test(name)) yield Number(name);
}

/**
 * Each process's `/proc/<pid>/stat` fields after its name: `[0]` state (`Z`: zombie), `[2]`
 * process group, `[11]`/`[12]` user/system ticks, `[13]`/`[14]` those of its reaped children,
 * `[21]` RSS in pages. A process that ends while being read is skipped.
 */
export function* procStats(): Generator<{ pid: number; f: string[] }> {
  for (const pid of procPids()) {
    const f = procStat(pid);
    if (f) yield { pid, f };
  }
}

/** One process's stat fields (see {@link procStats}); undefined once it has ended. */
export function procStat(pid: number): string[] | undefined {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // ended while we read
  }
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}
