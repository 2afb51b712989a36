// Preloaded (node --import) into every process the client bench measures: at exit, writes the process's own
// CPU time and peak RSS (process.resourceUsage, microseconds and KiB) to the file BENCH_USAGE_FILE names.
// CPU time counts every thread of the process (V8's background compilers and garbage collector too).
import { writeFileSync } from 'node:fs';
import process from 'node:process';

const file = process.env.BENCH_USAGE_FILE;
if (file) {
  process.on('exit', () => {
    const { userCPUTime, systemCPUTime, maxRSS } = process.resourceUsage();
    writeFileSync(file, JSON.stringify({ cpuMicros: userCPUTime + systemCPUTime, maxRssKiB: maxRSS }));
  });
  // A peer measured up to a moment of the bench's choosing (its first request): stopped with SIGTERM, it still
  // reports what it used until then.
  if (process.env.BENCH_EXIT_ON_SIGTERM) process.on('SIGTERM', () => process.exit(0));
}
