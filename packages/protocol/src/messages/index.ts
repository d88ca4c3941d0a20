export * from './commands.js';
export * from './common.js';
export * from './desired.js';
export * from './events.js';
export * from './logs.js';
export * from './parse-message.js';
export * from './state.js';
export * from './telemetry.js';
