/** The whole database schema. Each workflow keeps its tables in its own file. */
export * from './core.js';
export * from './incident.js';
export * from './event.js';
export * from './oncall.js';
export * from './approval.js';
export * from './request.js';
export * from './problem.js';
export * from './access.js';
