// The contract's DateTime scalar: ISO-8601 strings in UTC. Resolvers may return Date objects
// (drizzle timestamps) or ISO strings; both serialize to the same form.
import { GraphQLScalarType, Kind } from 'graphql';
import { appError } from './errors.ts';

function toIso(value: unknown): string {
  const date =
    value instanceof Date
      ? value
      : typeof value === 'string' || typeof value === 'number'
        ? new Date(value)
        : null;
  if (date === null || Number.isNaN(date.getTime()))
    throw new TypeError(`DateTime cannot represent ${String(value)}`);
  return date.toISOString();
}

function parseIso(value: unknown): string {
  if (
    typeof value !== 'string' ||
    !/^\d{4}-\d{2}-\d{2}T/.test(value) ||
    Number.isNaN(Date.parse(value))
  ) {
    throw appError(
      'BAD_USER_INPUT',
      `DateTime must be an ISO-8601 string, got ${JSON.stringify(value)}`,
    );
  }
  return new Date(value).toISOString();
}

export const DateTimeScalar = new GraphQLScalarType({
  name: 'DateTime',
  description: 'ISO-8601 date-time string in UTC.',
  serialize: toIso,
  parseValue: parseIso,
  parseLiteral: (ast) => parseIso(ast.kind === Kind.STRING ? ast.value : undefined),
});
