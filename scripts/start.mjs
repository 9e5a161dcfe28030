#!/usr/bin/env node
/**
 * `npm start`: makes dist/ current (scripts/start-build.mjs: nothing to do in a few milliseconds when nothing changed)
 * and starts tread from it, in this one Node process (a `prestart` script cost a second Node start and npm step).
 */
import { startBuild } from './start-build.mjs';

const status = startBuild();
if (status !== 0) process.exit(status);
const { run } = await import('../dist/src/main.js');
run();
