import type { DestinationConfig } from '../config/destinations.ts';
import { PushcdcError, errorMessage, messageWithCause } from '../errors.ts';
import { serializeNotification, type Notification, type RowTexts } from '../notification.ts';
import type { Destination } from './destination.ts';

/**
 * `webhook`: one HTTP POST of the SPEC payload per attempt, its rows as they arrived (byte for byte).
 * Any 2xx accepts; anything else (another status, a network error, no answer within timeoutMs) is a
 * failed attempt.
 */
export function createWebhookDestination(config: DestinationConfig): Destination {
  const address = config.address;
  if (address === undefined) throw new PushcdcError('DESTINATION', `${config.file}: webhook ${config.name} has no address`);
  // The body is always the JSON payload: a configured Content-Type (any spelling) cannot say otherwise.
  const headers = {
    ...Object.fromEntries(Object.entries(config.headers).filter(([name]) => name.toLowerCase() !== 'content-type')),
    'Content-Type': 'application/json',
  };
  return {
    name: config.name,
    type: 'webhook',
    async send(notification: Notification, rowTexts: RowTexts): Promise<void> {
      let response: Response;
      try {
        response = await fetch(address, {
          method: 'POST',
          headers,
          body: serializeNotification(notification, rowTexts),
          signal: AbortSignal.timeout(config.timeoutMs),
        });
      } catch (err) {
        const reason = err instanceof DOMException && err.name === 'TimeoutError' ? `no answer within ${config.timeoutMs} ms` : messageWithCause(err);
        throw new PushcdcError('DELIVERY', `POST ${address}: ${reason}`, { cause: err });
      }
      // Read the body either way: it frees the connection for the next request and explains a refusal.
      const text = await response.text().catch((err: unknown) => `(body unreadable: ${errorMessage(err)})`);
      if (!response.ok) {
        throw new PushcdcError('DELIVERY', `POST ${address}: HTTP ${response.status} ${response.statusText}${text ? `: ${text.slice(0, 300)}` : ''}`);
      }
    },
    close: async () => undefined,
  };
}
