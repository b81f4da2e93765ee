import type { Env, InstanceNames } from '../config/env.ts';
import type { Broker } from '../broker/broker.ts';
import type { Pool } from '../db/pool.ts';
import type { Logger } from '../log.ts';
import type { InquiryCatalog } from '../inquiry/catalog.ts';
import type { CompiledInquiry } from '../inquiry/compile.ts';

/** Everything a role of `pushcdc start` is given. Roles share the pool and the broker connection. */
export interface EngineContext {
  dir: string;
  env: Env;
  names: InstanceNames;
  databaseUrl: string;
  pool: Pool;
  broker: Broker;
  logger: Logger;
  /** The compiled inquiries' names and result columns, loaded once at start. */
  catalog: InquiryCatalog;
  /** The compiled inquiries themselves (capture's input). */
  inquiries: CompiledInquiry[];
}

export type RoleName = 'capture' | 'dispatch' | 'commerce' | 'webhooks';

/** A started role. `stop` drains: finishes in-flight work, acknowledges it, releases resources. */
export interface RunningRole {
  name: RoleName;
  stop(): Promise<void>;
}

export type RoleStarter = (ctx: EngineContext) => Promise<RunningRole>;
