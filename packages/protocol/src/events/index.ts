export * from './event-types.js';
export * from './event-data.js';
export * from './public-event.js';
