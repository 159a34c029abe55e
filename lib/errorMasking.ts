// Production error masking for every Apollo Server of ours: errors we raised on purpose (they
// carry a registry code) pass through; anything else is logged and replaced by a generic message,
// so no stack trace or SQL text reaches a client.
import type { GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import { isErrorCode } from './errors.ts';
import type { Logger } from './log.ts';

// Codes Apollo Server itself produces for malformed requests; they describe the client's mistake.
export const APOLLO_CLIENT_CODES: ReadonlySet<string> = new Set([
  'GRAPHQL_PARSE_FAILED',
  'GRAPHQL_VALIDATION_FAILED',
  'BAD_REQUEST',
  'PERSISTED_QUERY_NOT_FOUND',
  'PERSISTED_QUERY_NOT_SUPPORTED',
  'OPERATION_RESOLUTION_FAILURE',
]);

export function maskingFormatError(log: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.['code'];
    if (
      typeof code === 'string' &&
      code !== 'INTERNAL_SERVER_ERROR' &&
      (isErrorCode(code) || APOLLO_CLIENT_CODES.has(code))
    ) {
      // Drop any stack trace an upstream may have attached.
      const { stacktrace: _stacktrace, ...extensions } = formatted.extensions ?? {};
      return { ...formatted, extensions };
    }
    log.error(
      `internal error at ${formatted.path?.join('.') ?? '(request)'}`,
      unwrapResolverError(error),
    );
    return {
      message: 'internal server error',
      ...(formatted.path ? { path: formatted.path } : {}),
      ...(formatted.locations ? { locations: formatted.locations } : {}),
      extensions: { code: 'INTERNAL_SERVER_ERROR' },
    };
  };
}
