import { eventStreamBearerPrefix } from '@flock/protocol';
import type { IncomingHttpHeaders } from 'node:http';

/**
 * The token a browser's WebSocket offers as the subprotocol
 * `flock.bearer.<token>` (it cannot set an Authorization header). Read only
 * on upgrade requests; a header, unlike `?access_token=`, stays out of URLs
 * and the logs that record them.
 */
export function webSocketBearer(headers: IncomingHttpHeaders): string | undefined {
  if (headers.upgrade?.toLowerCase() !== 'websocket') return undefined;
  const offered = headers['sec-websocket-protocol'];
  if (offered === undefined) return undefined;
  const token = offered
    .split(',')
    .map((protocol) => protocol.trim())
    .find((protocol) => protocol.startsWith(eventStreamBearerPrefix))
    ?.slice(eventStreamBearerPrefix.length);
  return token === '' ? undefined : token;
}
