import { describe, expect, it } from 'vitest';
import { commerceMessages, isoFromTicks, recordChanges } from '../../src/dispatch/commerce-messages.ts';
import { filterTrackedChanges, isEmpty } from '../../src/dispatch/field-tracking.ts';
import { backoffDelay } from '../../src/dispatch/retry.ts';
import { ticksFromDate } from '../../src/notification.ts';
import { envelope } from './fixtures.ts';

/** The pure parts of dispatch: field tracking, per-record commerce messages, the retry schedule. */
const row = (id: string, name: string, city: string) => ({ CustomerID: id, Name: name, City: city });

describe('field tracking pairs an update by row identity', () => {
  const update = envelope('T-Customers', {
    deleted: [
      { key: ['1'], row: row('C1', 'Acme', 'Oslo') },
      { key: ['2'], row: row('C2', 'Beta', 'Bergen') },
    ],
    inserted: [
      { key: ['2'], row: row('C2', 'Beta', 'Trondheim') },
      { key: ['1'], row: row('C1', 'Acme Ltd', 'Oslo') },
    ],
  });

  it('drops a pair whose tracked columns are equal, keeps one where a tracked column changed', () => {
    const kept = filterTrackedChanges(update, ['City']);
    expect(kept.notification.Deleted).toEqual([row('C2', 'Beta', 'Bergen')]);
    expect(kept.notification.Inserted).toEqual([row('C2', 'Beta', 'Trondheim')]);
    expect(kept.keys).toEqual({ Deleted: [['2']], Inserted: [['2']] });
    expect(kept.notification.Id).toBe(update.notification.Id);
  });

  it('leaves nothing when no tracked column changed', () => {
    expect(isEmpty(filterTrackedChanges(update, ['CustomerID']))).toBe(true);
  });

  it('keeps every pair when a changed column is tracked', () => {
    expect(filterTrackedChanges(update, ['Name', 'City'])).toBe(update);
  });

  it('always keeps rows without a partner: a real insert or delete', () => {
    const insertAndDelete = envelope('T-Customers', {
      inserted: [{ key: ['3'], row: row('C3', 'New', 'Oslo') }],
      deleted: [{ key: ['4'], row: row('C4', 'Gone', 'Oslo') }],
    });
    expect(filterTrackedChanges(insertAndDelete, ['City'])).toBe(insertAndDelete);
  });

  it('keeps everything when the message carries no row identities (a bare payload)', () => {
    const bare = { ...update, keys: { Inserted: [], Deleted: [] } };
    expect(filterTrackedChanges(bare, ['City'])).toBe(bare);
  });

  it('compares json values by content and null like a missing column', () => {
    const json = envelope('T', {
      deleted: [{ key: ['1'], row: { Id: 1, Tags: { a: [1, 2] }, Note: null } }],
      inserted: [{ key: ['1'], row: { Id: 1, Tags: { a: [1, 2] } } }],
    });
    expect(isEmpty(filterTrackedChanges(json, ['Tags', 'Note']))).toBe(true);
  });
});

describe('commerce messages: one per record per store', () => {
  const n = envelope(
    'BC-PUSH-Locations',
    {
      inserted: [
        { key: ['1'], row: { CustomerID: 'C1', LocationID: 'MAIN', City: 'Oslo' } },
        { key: ['2'], row: { CustomerID: 'C1', LocationID: 'MAIN', City: 'Oslo 2' } },
        { key: ['3'], row: { CustomerID: 'C2', LocationID: 'MAIN', City: 'Bergen' } },
      ],
      deleted: [
        { key: ['3'], row: { CustomerID: 'C2', LocationID: 'MAIN', City: 'Old' } },
        { key: ['4'], row: { CustomerID: 'C3', LocationID: 7, City: 'Gone' } },
      ],
    },
    ticksFromDate(new Date('2024-03-01T12:34:56.789Z')),
  ).notification;

  it('upserts records with an Inserted row (latest row), deletes those with only Deleted rows', () => {
    expect(recordChanges(n, ['CustomerID', 'LocationID'])).toEqual([
      { localId: 'C1|MAIN', operation: 'upsert', row: { CustomerID: 'C1', LocationID: 'MAIN', City: 'Oslo 2' } },
      { localId: 'C2|MAIN', operation: 'upsert', row: { CustomerID: 'C2', LocationID: 'MAIN', City: 'Bergen' } },
      { localId: 'C3|7', operation: 'delete', row: { CustomerID: 'C3', LocationID: 7, City: 'Gone' } },
    ]);
  });

  it('addresses each store, with the commit time and the notification Id', () => {
    const messages = commerceMessages(n, { entity: 'CustomerLocation', keyFields: ['CustomerID', 'LocationID'] }, ['a', 'b']);
    expect(messages).toHaveLength(6);
    expect(messages[0]).toEqual({
      store: 'a',
      entity: 'CustomerLocation',
      direction: 'export',
      localId: 'C1|MAIN',
      operation: 'upsert',
      payload: { CustomerID: 'C1', LocationID: 'MAIN', City: 'Oslo 2' },
      at: '2024-03-01T12:34:56.789Z',
      sourceId: n.Id,
    });
    expect(messages.map((m) => m.store)).toEqual(['a', 'a', 'a', 'b', 'b', 'b']);
  });

  it('converts .NET ticks to ISO time (checked against Python datetime(1,1,1) + ticks/10 µs)', () => {
    expect(isoFromTicks(638465233453014192n)).toBe('2024-03-20T09:22:25.301Z');
  });
});

describe('retry schedule', () => {
  it('doubles from the base delay, jittered by at most 25%', () => {
    expect([1, 2, 3, 4].map((n) => backoffDelay(500, n, () => 0.5))).toEqual([500, 1000, 2000, 4000]);
    expect(backoffDelay(500, 1, () => 0)).toBe(375);
    expect(backoffDelay(500, 4, () => 1)).toBe(5000);
  });
});
