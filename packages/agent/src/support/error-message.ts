/** The message of a thrown value, with its causes, for a log line or a report. */
export function errorMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause === undefined ? '' : `: ${errorMessage(error.cause)}`;
  return `${error.message}${cause}`;
}
