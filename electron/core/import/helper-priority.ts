/**
 * An import's main thread is its one serial stage: it reads, hashes, decodes small PNGs, writes thumbnails and
 * commits rows, while up to a dozen helper threads (libvips workers, libuv's pool running sharp, V8's garbage
 * collector helpers) decode and encode. With more runnable threads than cores, the kernel gives each an equal
 * share, so the main thread gets a fraction of a core and the helpers then wait for it to feed them: 10,000 small
 * PNGs import 1.09× faster on 2 cores with the helpers at nice 10 (the main thread gets its share back; the CPU
 * used is the same). Large photos gain nothing: there the decoders bound the import anyway.
 *
 * Linux only, where a thread id passed to setpriority() moves that one thread. An unprivileged process cannot
 * take the lower priority back, so only a process that ends with its import asks for this (`loupe import`): in
 * a long-lived host the helpers would stay slower for good, behind a training process for instance.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { setPriority } from 'node:os';

const HELPER_NICE = 10;
/** New helper threads appear while an import runs (libvips grows its pool): looked for this often. */
const SCAN_MS = 250;

function threadName(tid: string): string | null {
  try {
    return readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
  } catch {
    return null; // exited meanwhile
  }
}

/**
 * Lowers the priority of this process's helper threads until the returned function is called: libvips' workers,
 * and the unnamed threads that carry the process's own name (libuv's pool, V8's helpers). Named threads of an
 * embedding runtime are left alone. A no-op off Linux.
 */
export function lowerHelperThreads(): () => void {
  if (process.platform !== 'linux') return () => {};
  const main = String(process.pid);
  const mainName = threadName(main);
  const seen = new Set<string>([main]);
  const scan = () => {
    let tids: string[];
    try {
      tids = readdirSync('/proc/self/task');
    } catch {
      return;
    }
    for (const tid of tids) {
      if (seen.has(tid)) continue;
      seen.add(tid);
      const name = threadName(tid);
      if (name !== 'libvips worker' && name !== mainName) continue;
      try {
        setPriority(Number(tid), HELPER_NICE);
      } catch {
        // Exited meanwhile, or not allowed: it keeps its priority.
      }
    }
  };
  scan();
  const timer = setInterval(scan, SCAN_MS);
  timer.unref();
  return () => clearInterval(timer);
}
