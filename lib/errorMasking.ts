// Production error masking for every Apollo Server of ours: errors we raised on purpose (they
// carry a registry code) pass through; anything else is logged and replaced by a generic message,
// so no stack trace or SQL text reaches a client.
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { unwrapResolverError } from '@apollo/server/errors';
import { isErrorCode } from './errors.ts';
import type { Logger } from './log.ts';

/** A codeless error (Apollo's normalisation then says INTERNAL_SERVER_ERROR) with a 4xx status. */
function isCodelessClientError(error: unknown): boolean {
  if (!(error instanceof GraphQLError) || error.extensions['code'] !== undefined) return false;
  const status = (error.extensions['http'] as { status?: unknown } | undefined)?.status;
  return typeof status === 'number' && status >= 400 && status < 500;
}

export function maskingFormatError(log: Logger) {
  return (formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError => {
    const code = formatted.extensions?.['code'];
    // The registry includes the codes Apollo Server gives malformed requests (BAD_REQUEST...).
    if (isErrorCode(code) && code !== 'INTERNAL_SERVER_ERROR') {
      // Drop any stack trace an upstream may have attached.
      const { stacktrace: _stacktrace, ...extensions } = formatted.extensions ?? {};
      return { ...formatted, extensions };
    }
    if (isCodelessClientError(error)) {
      // Apollo answers a few malformed requests (a persisted query whose hash does not match its
      // text) with a 4xx but no code: the client's mistake, not an internal error.
      return { message: formatted.message, extensions: { code: 'BAD_REQUEST' } };
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
