import type { InstanceStatus } from './status.ts';
import { formatBytes } from './status.ts';

/** The status page (`GET /status` in a browser): the same report as `pushcdc status`, as HTML. */
const escape = (value: unknown) =>
  String(value ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function table(headers: string[], rows: unknown[][]): string {
  const head = headers.map((h) => `<th>${escape(h)}</th>`).join('');
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${escape(c)}</td>`).join('')}</tr>`).join('');
  return `<table><thead><tr>${head}</tr></thead><tbody>${body || `<tr><td colspan="${headers.length}">(none)</td></tr>`}</tbody></table>`;
}

export function renderStatusPage(status: InstanceStatus): string {
  const slot = status.slot
    ? `${status.slot.active ? 'streaming' : 'not streaming'}, lag ${formatBytes(status.slot.lagBytes)}, WAL ${status.slot.walStatus}`
    : 'not created yet';
  return `<!doctype html><html><head><meta charset="utf-8"><meta http-equiv="refresh" content="5">
<title>pushcdc ${escape(status.instance)}</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#f4f4f4}</style>
</head><body><h1>pushcdc · ${escape(status.instance)}</h1>
<p>Replication slot: ${escape(slot)}<br>Outbox: ${escape(status.outboxWaiting ?? 'not created yet')} notifications waiting</p>
<h2>Queues</h2>${table(
    ['queue', 'messages', 'consumers', 'net/s'],
    status.queues.map((q) => [q.queue, q.messages ?? (q.error ? 'not declared yet' : ''), q.consumers ?? '', q.netPerSecond?.toFixed(1) ?? '']),
  )}
<h2>Destinations</h2>${table(['name', 'type', 'active', 'failed', 'inquiries'], status.destinations.map((d) => [d.name, d.type, d.active ? 'yes' : 'no', d.failed, d.inquiries.join(', ')]))}
<h2>Inquiries</h2>${table(['inquiry', 'state rows', 'built at'], status.inquiries.map((i) => [i.name, i.stateRows, i.builtAt]))}
</body></html>`;
}
