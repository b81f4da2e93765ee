import { z } from 'zod';
import { PushcdcError } from '../errors.ts';
import type { CommerceMessage } from './message.ts';

/**
 * Reads a commerceQueue message. Anyone can publish to the queue (the dispatcher, the webhook
 * receiver, an operator), so the shape is checked before a message can reach sync_status.
 */
const messageSchema = z
  .object({
    store: z.string().min(1),
    entity: z.string().min(1),
    direction: z.enum(['export', 'import']),
    localId: z.string().min(1).optional(),
    externId: z.string().min(1).optional(),
    operation: z.enum(['upsert', 'delete']),
    payload: z.record(z.string(), z.unknown()),
    at: z.string().refine((s) => Number.isFinite(Date.parse(s)), { message: 'must be an ISO 8601 time' }),
    sourceId: z.string().optional(),
  })
  .refine((m) => (m.direction === 'export' ? m.localId !== undefined : m.externId !== undefined), {
    message: 'an export needs localId, an import needs externId',
  });

export function parseCommerceMessage(body: Buffer): CommerceMessage {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new PushcdcError('INTERNAL', `commerceQueue message is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = messageSchema.safeParse(json);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.') || 'message'}: ${i.message}`).join('; ');
    throw new PushcdcError('INTERNAL', `commerceQueue message has the wrong shape: ${detail}`);
  }
  return parsed.data as CommerceMessage;
}
