import { pathToFileURL } from 'node:url';
import type { DestinationConfig } from '../config/destinations.ts';
import { PushcdcError, errorMessage } from '../errors.ts';
import type { Notification } from '../notification.ts';
import type { Destination } from './destination.ts';

/**
 * `module`: a sender written by the user. The module's default export is either a sender
 * `{ send(notification), close?() }` or a factory `(options, context) => sender` (sync or async)
 * given the destination's `options`. `send` receives the notification object (TimeStamp as a bigint,
 * exact); a throw or a rejection is a failed attempt, retried like a webhook's.
 */
export interface ModuleSender {
  send(notification: Notification): unknown;
  close?(): unknown;
}

export type SenderFactory = (
  options: Record<string, unknown>,
  context: { destination: string },
) => ModuleSender | Promise<ModuleSender>;

function isSender(value: unknown): value is ModuleSender {
  return typeof value === 'object' && value !== null && typeof (value as ModuleSender).send === 'function';
}

export async function createModuleDestination(config: DestinationConfig): Promise<Destination> {
  const where = `${config.file}: module ${config.address ?? '(no address)'}`;
  if (config.address === undefined) throw new PushcdcError('DESTINATION', where);
  let loaded: { default?: unknown };
  try {
    loaded = (await import(pathToFileURL(config.address).href)) as { default?: unknown };
  } catch (err) {
    throw new PushcdcError('DESTINATION', `${where} could not be loaded: ${errorMessage(err)}`, { cause: err });
  }
  let sender: unknown = loaded.default;
  if (typeof sender === 'function') {
    try {
      sender = await (sender as SenderFactory)(config.options, { destination: config.name });
    } catch (err) {
      throw new PushcdcError('DESTINATION', `${where}: the sender factory failed: ${errorMessage(err)}`, { cause: err });
    }
  }
  if (!isSender(sender)) {
    throw new PushcdcError('DESTINATION', `${where} must export default { send(notification) } or a factory (options) => sender`);
  }
  const ready = sender;
  return {
    name: config.name,
    type: 'module',
    async send(notification: Notification): Promise<void> {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new PushcdcError('DELIVERY', `send did not finish within ${config.timeoutMs} ms`)), config.timeoutMs);
      });
      try {
        await Promise.race([Promise.resolve(ready.send(notification)), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    async close(): Promise<void> {
      await ready.close?.();
    },
  };
}
