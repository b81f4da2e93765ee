import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Has RabbitMQ itself close the connections named `connectionName` (CONNECTION_FORCED), the way an
 * operator or a node restart does. Only ours: other test files share this RabbitMQ.
 */
export async function forceCloseConnections(connectionName: string): Promise<number> {
  const { stdout } = await run('rabbitmqctl', ['list_connections', 'pid', 'client_properties', '-q', '--no-table-headers']);
  const pids = stdout
    .split('\n')
    .filter((line) => line.includes(`{"connection_name","${connectionName}"}`))
    .map((line) => line.split('\t')[0]!)
    .filter((pid) => pid.startsWith('<'));
  for (const pid of pids) await run('rabbitmqctl', ['close_connection', pid, 'pushcdc broker test']);
  return pids.length;
}
