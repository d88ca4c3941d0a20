/** The URL as it is safe to log: any password replaced. */
export function redactUrl(value: string): string {
  const url = new URL(value);
  if (url.password !== '') url.password = '***';
  return url.toString();
}
