import { ingesterCases } from './ingester-cases.js';

ingesterCases('embedded');
