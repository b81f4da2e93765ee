import type { Broker } from '../broker/broker.ts';
import { loadDestinations } from '../config/destinations.ts';
import { loadStoresOrThrow } from '../config/stores.ts';
import type { Pool } from '../db/pool.ts';
import { ProblemsError, PushcdcError, errorMessage } from '../errors.ts';
import { readQueueMessage } from '../notification.ts';
import { createDestination } from './create.ts';
import { deleteFailed, recordResendFailure, type FailedNotification } from './failed-store.ts';

/**
 * Resending a failed notification (`pushcdc failed resend`): one direct attempt at its destination,
 * as the destination file says today. Direct rather than through the destination's queue because the
 * operator gets the answer on the spot (exit 0: delivered and removed from the list; exit 1: the
 * error, the row kept), and it works whether or not a dispatcher is running. The notification left
 * its inquiry's order when it failed, so sending it beside the queue loses nothing.
 */
export interface ResendContext {
  dir: string;
  pool: Pool;
  commerceQueue: string;
  /** Opened only for a commerce destination (it publishes to commerceQueue). */
  broker: () => Promise<Broker>;
}

export type ResendOutcome = { ok: true } | { ok: false; error: string };

export async function resendFailed(ctx: ResendContext, row: FailedNotification): Promise<ResendOutcome> {
  if (row.truncated) {
    throw new PushcdcError(
      'DELIVERY',
      `failed notification ${row.id} was stored truncated (over 500,000 characters) and cannot be sent again; delete it with \`pushcdc failed delete ${row.id}\``,
    );
  }
  const { destinations, problems } = await loadDestinations(ctx.dir, null);
  const config = destinations.find((d) => d.name === row.destination);
  if (!config) {
    const ownProblems = problems.filter((p) => p.file.endsWith(`${row.destination}.json`));
    if (ownProblems.length > 0) throw new ProblemsError(ownProblems);
    throw new PushcdcError('NOT_FOUND', `failed notification ${row.id}: destination "${row.destination}" is no longer in ${ctx.dir}/destinations`);
  }
  const { notification, rowTexts } = readQueueMessage(row.payload);
  const destination = await createDestination(config, {
    broker: ctx.broker,
    pool: ctx.pool,
    commerceQueue: ctx.commerceQueue,
    stores: () => loadStoresOrThrow(ctx.dir),
  });
  try {
    await destination.send(notification, rowTexts);
  } catch (err) {
    const error = errorMessage(err);
    await recordResendFailure(ctx.pool, row.id, error);
    return { ok: false, error };
  } finally {
    await destination.close();
  }
  await deleteFailed(ctx.pool, row.id);
  return { ok: true };
}
