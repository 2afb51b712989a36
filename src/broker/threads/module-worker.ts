import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * A worker thread running `module`, a module next to the caller (`import.meta.url`), named without extension.
 * Built (lib/), that module is a .js file Node runs as it is. Run from the TypeScript sources (the tests, `npm
 * start`, the bench), it is a .ts file, which Node does not load by itself: the worker then imports it through
 * tsx, the development dependency that runs the sources everywhere else.
 */
export function startModuleWorker(module: string, callerUrl: string, options: WorkerOptions = {}): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(`./${module}.js`, callerUrl), options);
  const url = JSON.stringify(new URL(`./${module}.ts`, callerUrl).href);
  return new Worker(`import('tsx/esm/api').then((tsx) => tsx.tsImport(${url}, ${url}));`, {
    ...options,
    eval: true,
  });
}
