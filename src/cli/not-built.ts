import { PushcdcError } from '../errors.ts';

/** For commands whose engine part has not landed yet: a clear user error, not a crash. */
export function notBuilt(what: string): never {
  throw new PushcdcError('INTERNAL', `${what} is not built yet`);
}
