// Preloaded (node --import) into every process the client bench measures: at exit, writes the process's own
// CPU time and peak RSS (process.resourceUsage, microseconds and KiB) to the file BENCH_USAGE_FILE names.
import { writeFileSync } from 'node:fs';
import process from 'node:process';

const file = process.env.BENCH_USAGE_FILE;
if (file) {
  process.on('exit', () => {
    const { userCPUTime, systemCPUTime, maxRSS } = process.resourceUsage();
    writeFileSync(file, JSON.stringify({ cpuMicros: userCPUTime + systemCPUTime, maxRssKiB: maxRSS }));
  });
}
