/** Process exit codes; a systemd unit should set `RestartPreventExitStatus=2 3`. */
export const exitCodes = {
  ok: 0,
  failure: 1,
  /** Bad command line or configuration: restarting cannot help. */
  usage: 2,
  /** The server refused this device for good (deleted, or its key refused). */
  refused: 3,
} as const;

/** Every error the agent stops for, with what it means and how it exits. */
export const agentErrorCodes = {
  config_invalid: { exitCode: exitCodes.usage, meaning: 'the configuration file is invalid' },
  provisioning_refused: {
    exitCode: exitCodes.refused,
    meaning: 'the server refused the provisioning key (unknown, revoked, expired or used up)',
  },
  device_deleted: {
    exitCode: exitCodes.refused,
    meaning: 'the server no longer knows this device: it was deleted or its secret replaced',
  },
  credentials_unreadable: {
    exitCode: exitCodes.failure,
    meaning: 'the stored credentials or device identity cannot be read',
  },
} as const;

export type AgentErrorCode = keyof typeof agentErrorCodes;

export class AgentError extends Error {
  readonly code: AgentErrorCode;

  constructor(code: AgentErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AgentError';
    this.code = code;
  }

  get exitCode(): number {
    return agentErrorCodes[this.code].exitCode;
  }
}
