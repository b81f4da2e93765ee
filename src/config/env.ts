import { z } from 'zod';
import { PushcdcError } from '../errors.ts';

/**
 * The environment contract (SPEC section 3). Every variable is validated; a bad value is an error that
 * names the variable, never a silent fallback to the default.
 */
const urlOf = (protocols: string[]) =>
  z.string().superRefine((s, ctx) => {
    const wanted = `a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`;
    let url: URL;
    try {
      url = new URL(s);
    } catch {
      // Say what is wrong with it: "postgres://host:99999/db" starts right, but its port is not one.
      const port = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*:(\d+)(?:[/?#]|$)/i.exec(s)?.[1];
      const why = port !== undefined && Number(port) > 65_535 ? `its port ${port} is above 65535` : 'this one is not a URL';
      ctx.addIssue({ code: 'custom', message: `must be ${wanted}; ${why}` });
      return;
    }
    if (!protocols.includes(url.protocol)) ctx.addIssue({ code: 'custom', message: `must be ${wanted}` });
  });

const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { message: 'must be a whole number' })
    .transform(Number)
    .refine((n) => n >= min && n <= max, { message: `must be between ${min} and ${max}` });

const envSchema = z.object({
  DATABASE_URL: urlOf(['postgres:', 'postgresql:']).optional(),
  AMQP_URL: urlOf(['amqp:', 'amqps:']).optional(),
  PUSHCDC_INSTANCE: z
    .string()
    .regex(/^[a-z0-9_]{1,40}$/, { message: 'must be 1-40 characters of a-z, 0-9 and _ (it names the slot and queues)' })
    .default('default'),
  PUSHCDC_COMPANY: z.string().min(1, { message: 'must not be empty' }).default('Company'),
  PUSHCDC_DEBOUNCE_MS: integer(0, 86_400_000).default(20_000),
  PUSHCDC_HTTP_PORT: integer(0, 65_535).default(8080),
});

export type Env = z.infer<typeof envSchema>;

export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  // Empty strings count as unset: `FOO= pushcdc start` is how shells unset a variable for one command.
  const present = Object.fromEntries(
    Object.keys(envSchema.shape).flatMap((key) => {
      const value = source[key];
      return value === undefined || value === '' ? [] : [[key, value]];
    }),
  );
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? 'environment');
      return `environment variable ${name}=${JSON.stringify(source[name] ?? '')}: ${issue.message}`;
    });
    throw new PushcdcError('CONFIG', lines.join('\n'));
  }
  return parsed.data;
}

/** Names derived from the instance: one slot, one publication, one queue pair per deployment. */
export function instanceNames(instance: string) {
  return {
    slot: `pushcdc_${instance}`,
    publication: `pushcdc_${instance}`,
    viewSchema: `pushcdc_${instance}`,
    stateSchema: `pushcdc_${instance}_state`,
    primaryQueue: `primaryQueue.${instance}`,
    commerceQueue: `commerceQueue.${instance}`,
  };
}

export type InstanceNames = ReturnType<typeof instanceNames>;
