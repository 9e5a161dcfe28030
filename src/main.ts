/**
 * tread's entry point (`node dist/src/main.js`, `npm start`): turns Node's compile cache on, then loads tread
 * (src/start.ts) and starts it. It imports nothing else up front, so that the cache covers every module tread loads.
 */
import nodeModule from 'node:module';
import type { Tread } from './runtime.js';

/**
 * Turns on Node's on-disk cache of compiled modules (Node 22.1+; a no-op on older Node) for the modules loaded after
 * it, in NODE_COMPILE_CACHE or the OS temp directory. It never stops a start: an unwritable directory only means no
 * cache, and NODE_DISABLE_COMPILE_CACHE=1 turns it off.
 */
export function enableCompileCache(): void {
  try {
    (nodeModule as { enableCompileCache?: () => unknown }).enableCompileCache?.();
  } catch { /* no cache */ }
}

/** Starts tread from the environment; resolves when it is ready. Exits the process with one line on bad configuration. */
export async function main(argvEnv: NodeJS.ProcessEnv = process.env): Promise<Tread> {
  const { start } = await import('./start.js');
  return start(argvEnv);
}

/** Starts tread as a program: the compile cache on, then `main()`; a failure ends the process with its stack. */
export function run(): void {
  enableCompileCache();
  main().catch((e) => {
    process.stderr.write(`tread: failed to start: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  });
}

const invokedDirectly = process.argv[1] && /[\\/]main\.(ts|js)$/.test(process.argv[1]);
if (invokedDirectly) run();
