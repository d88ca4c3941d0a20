import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export interface LoggerOptions {
  level: string;
  format: 'json' | 'pretty';
}

export function createLogger(options: LoggerOptions): Logger {
  const base = { level: options.level, base: { pid: process.pid } };
  if (options.format === 'pretty') {
    return pino(base, pretty({ sync: true, colorize: process.stdout.isTTY }));
  }
  return pino(base);
}
