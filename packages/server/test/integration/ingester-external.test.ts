import { describe } from 'vitest';
import { ingesterBackends } from '../support/ingester-harness.js';
import { ingesterCases } from './ingester-cases.js';

describe.skipIf(!ingesterBackends.includes('external'))(
  'with PostgreSQL, Redis and Mosquitto configured',
  () => ingesterCases('external'),
);
