/**
 * WAL positions as bigints. The replication library prints them in two formats (`0/156EE38` and
 * `00000000/0156EFD0`), so they are never compared as strings.
 */
export type Lsn = bigint;

export function parseLsn(text: string): Lsn {
  const [high, low] = text.split('/');
  if (high === undefined || low === undefined) throw new Error(`not an LSN: ${text}`);
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}

export function formatLsn(lsn: Lsn): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}
