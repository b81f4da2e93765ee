/**
 * A PostgreSQL snapshot (`pg_current_snapshot()`, 64-bit xids) and the visibility of a committed
 * transaction in it. pgoutput gives 32-bit xids; they are widened against the snapshot's xmax, which
 * is within 2^31 of any transaction the stream can still deliver.
 */
export interface Snapshot {
  xmin: bigint;
  xmax: bigint;
  inProgress: Set<bigint>;
}

export function parseSnapshot(text: string): Snapshot {
  const [xmin, xmax, xip] = text.split(':');
  if (xmin === undefined || xmax === undefined) throw new Error(`not a snapshot: ${text}`);
  return {
    xmin: BigInt(xmin),
    xmax: BigInt(xmax),
    inProgress: new Set((xip ?? '').split(',').filter(Boolean).map(BigInt)),
  };
}

/**
 * The 64-bit xid nearest the snapshot's xmax with these low 32 bits. Transactions the stream still
 * delivers are within 2^31 of xmax on either side: older ones committed before the snapshot, newer
 * ones (xid >= xmax) after it.
 */
export function widenXid(xid: number, snapshot: Snapshot): bigint {
  const low = Number(snapshot.xmax & 0xffffffffn);
  let distance = (xid >>> 0) - low;
  if (distance > 2 ** 31) distance -= 2 ** 32;
  else if (distance < -(2 ** 31)) distance += 2 ** 32;
  return snapshot.xmax + BigInt(distance);
}

/** True when a transaction that committed is visible (its effects are seen) in the snapshot. */
export function isVisible(xid: number, snapshot: Snapshot): boolean {
  const full = widenXid(xid, snapshot);
  if (full < snapshot.xmin) return true;
  return full < snapshot.xmax && !snapshot.inProgress.has(full);
}
