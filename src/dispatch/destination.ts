import type { DestinationType } from '../config/destinations.ts';
import type { Notification, RowTexts } from '../notification.ts';

/**
 * The seam between the dispatcher and a kind of receiver. `send` resolves once the receiver has
 * accepted the notification and rejects with the reason otherwise; the dispatcher owns retries,
 * ordering, failure storage and acknowledgement, so a destination is only "try once". `rowTexts`
 * are the rows' JSON texts as they arrived, for a destination that sends the notification as JSON
 * text (serializeNotification): the parsed rows have lost their exact numbers.
 */
export interface Destination {
  readonly name: string;
  readonly type: DestinationType;
  send(notification: Notification, rowTexts: RowTexts): Promise<void>;
  /** Releases what the destination holds (a module's resources); in-flight sends have finished. */
  close(): Promise<void>;
}
