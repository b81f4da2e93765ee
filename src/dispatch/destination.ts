import type { DestinationType } from '../config/destinations.ts';
import type { Notification } from '../notification.ts';

/**
 * The seam between the dispatcher and a kind of receiver. `send` resolves once the receiver has
 * accepted the notification and rejects with the reason otherwise; the dispatcher owns retries,
 * ordering, failure storage and acknowledgement, so a destination is only "try once".
 */
export interface Destination {
  readonly name: string;
  readonly type: DestinationType;
  send(notification: Notification): Promise<void>;
  /** Releases what the destination holds (a module's resources); in-flight sends have finished. */
  close(): Promise<void>;
}
