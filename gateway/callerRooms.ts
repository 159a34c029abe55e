// The rooms a search may read: central's `me { rooms }` for the caller, asked with the caller's
// own Authorization header (central verifies it again), so the gateway never decides membership
// from anything but central's answer for this request.
import type { CentralEndpoints } from '../lib/centralEndpoints.ts';
import { appError, errorCodes, type ErrorCode } from '../lib/errors.ts';
import { GATEWAY_SECRET_HEADER } from '../lib/gatewayProtocol.ts';
import { postJson } from '../lib/httpClient.ts';
import { forwardedHeaders, type GatewayContext } from './context.ts';
import type { CallerRooms, SearchableRoom } from './searchScatter.ts';

interface MeAnswer {
  data?: { me?: { rooms?: SearchableRoom[] } | null } | null;
  errors?: Array<{ message: string; extensions?: { code?: string } }>;
}

export function centralCallerRooms(options: {
  central: CentralEndpoints;
  gatewaySecret: string;
  timeoutMs: number;
}): CallerRooms {
  return async (context: GatewayContext | undefined, withMembers: boolean) => {
    const query = `{ me { rooms { id name ${withMembers ? 'members { id username }' : ''} } } }`;
    let answer: MeAnswer;
    try {
      // A read: any central may answer it, the next one when the current one fails.
      const response = await options.central.call(
        async (url) => {
          const answered = await postJson(
            `${url}/graphql`,
            JSON.stringify({ query }),
            { ...forwardedHeaders(context), [GATEWAY_SECRET_HEADER]: options.gatewaySecret },
            options.timeoutMs,
          );
          if (answered.status >= 500) throw new Error(`central answered HTTP ${answered.status}`);
          return answered;
        },
        { idempotent: true },
      );
      answer = JSON.parse(response.body) as MeAnswer;
    } catch (error) {
      throw appError(
        'CENTRAL_UNAVAILABLE',
        `central could not list your rooms: ${(error as Error).message}`,
        { cause: error },
      );
    }
    const refused = answer.errors?.[0];
    if (refused) {
      const given = refused.extensions?.code ?? '';
      const code: ErrorCode = given in errorCodes ? (given as ErrorCode) : 'CENTRAL_UNAVAILABLE';
      throw appError(code, refused.message);
    }
    const me = answer.data?.me;
    if (!me) throw appError('UNAUTHENTICATED', 'log in first: searching needs a bearer token');
    return me.rooms ?? [];
  };
}
