import { runAction } from './run-action.js';

await runAction();
// Everything this step does is done. A token request that timeout-seconds gave up on may still hold a socket
// open until its own cap: end once what was written to the log has been handed over.
const flushed = (stream: NodeJS.WriteStream): Promise<void> =>
  new Promise((resolve) => stream.write('', () => resolve()));
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
process.exit();
