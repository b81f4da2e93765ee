import { describe, expect, it } from 'vitest';
import { isVisible, parseSnapshot, widenXid } from '../../src/capture/snapshot.ts';

/** Visibility of a committed transaction in a snapshot, from the 32-bit xid pgoutput gives. */
describe('snapshot visibility', () => {
  it('sees what committed before the snapshot, not what began at or after xmax', () => {
    const s = parseSnapshot('1059688:1059692:1059689,1059690');
    expect(isVisible(1059687, s)).toBe(true); // below xmin
    expect(isVisible(1059688, s)).toBe(true); // between xmin and xmax, not in progress
    expect(isVisible(1059689, s)).toBe(false); // in progress at the snapshot
    expect(isVisible(1059691, s)).toBe(true);
    expect(isVisible(1059692, s)).toBe(false); // xmax: began after the snapshot
    expect(isVisible(1059693, s)).toBe(false); // newer still
  });

  it('a transaction just past xmax is newer, not from the previous epoch', () => {
    const s = parseSnapshot('1059688:1059688:');
    expect(widenXid(1059689, s)).toBe(1059689n);
    expect(isVisible(1059689, s)).toBe(false);
  });

  it('widens across the 32-bit wraparound in both directions', () => {
    const epoch = 5n << 32n;
    const s = parseSnapshot(`${epoch + 10n}:${epoch + 20n}:`);
    // 0xFFFFFFF0 is 16 before the epoch boundary: the previous epoch, committed long before.
    expect(widenXid(0xfffffff0 | 0, s)).toBe(epoch - 16n);
    expect(isVisible(0xfffffff0 | 0, s)).toBe(true);
    const late = parseSnapshot(`${epoch - 30n}:${epoch - 20n}:`);
    // xid 5 of the next epoch began after this snapshot.
    expect(widenXid(5, late)).toBe(epoch + 5n);
    expect(isVisible(5, late)).toBe(false);
  });
});
