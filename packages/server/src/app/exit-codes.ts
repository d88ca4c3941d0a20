export const exitCodes = {
  ok: 0,
  /** The process failed while running: a module failed or could not start. */
  failure: 1,
  /** The command line or configuration is invalid; nothing was started. */
  usage: 2,
} as const;
