import type { StoreEntityConfig } from '../config/stores.ts';
import type { CommerceDirection } from './message.ts';

/**
 * The ERP's rule for which way a record syncs: only one side changed since the last sync → from
 * that side; both changed → the entity's primary system wins; neither → nothing to do.
 */
export function chooseDirection(input: {
  localChanged: boolean;
  externChanged: boolean;
  primarySystem: StoreEntityConfig['primarySystem'];
}): CommerceDirection | 'none' {
  if (input.localChanged && input.externChanged) return input.primarySystem === 'erp' ? 'export' : 'import';
  if (input.localChanged) return 'export';
  if (input.externChanged) return 'import';
  return 'none';
}

/** Whether the storefront's record changed after the stamp kept at the last sync. */
export function externChangedSince(currentIso: string | null, lastSyncedMs: number | null): boolean {
  if (currentIso === null || lastSyncedMs === null) return false;
  const current = Date.parse(currentIso);
  return Number.isFinite(current) && current > lastSyncedMs;
}
