/**
 * Errors carry a stable code and the cause they wrap, so callers can branch on the kind of failure
 * and logs keep the whole chain. User errors (bad files, unknown names) exit 1; usage errors exit 2.
 */
export type ErrorCode =
  | 'CONFIG'
  | 'INQUIRY'
  | 'DESTINATION'
  | 'STORE'
  | 'NOT_FOUND'
  | 'USAGE'
  | 'DATABASE'
  | 'BROKER'
  | 'DELIVERY'
  | 'STOREFRONT'
  | 'INTERNAL';

export class PushcdcError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PushcdcError';
    this.code = code;
  }

  /** Exit code per SPEC: 2 for usage errors, 1 for everything the user can fix in a file or name. */
  get exitCode(): number {
    return this.code === 'USAGE' ? 2 : 1;
  }
}

/** A problem found in a user file, printed as `path:line:col: message`. */
export interface Problem {
  file: string;
  line?: number | undefined;
  col?: number | undefined;
  message: string;
}

export function formatProblem(p: Problem): string {
  const where = p.line === undefined ? p.file : `${p.file}:${p.line}:${p.col ?? 1}`;
  return `${where}: ${p.message}`;
}

/** Thrown when a file has one or more problems; the CLI prints each on its own line. */
export class ProblemsError extends PushcdcError {
  readonly problems: Problem[];

  constructor(problems: Problem[]) {
    super('CONFIG', problems.map(formatProblem).join('\n'));
    this.problems = problems;
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** An error's message with its cause's: fetch reports "fetch failed" and hides the reason (ECONNREFUSED, …) in `cause`. */
export function messageWithCause(err: unknown): string {
  const cause = err instanceof Error ? err.cause : undefined;
  return cause ? `${errorMessage(err)} (${errorMessage(cause)})` : errorMessage(err);
}
