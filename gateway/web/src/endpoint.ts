// Where the pages send GraphQL: the gateway that served them. Resolved against the page's own URL
// (not "/graphql") so the pages keep working behind a reverse proxy that adds a path prefix.

export interface GraphQLEndpoint {
  readonly http: string;
  readonly ws: string;
}

export function graphqlEndpoint(): GraphQLEndpoint {
  const http = new URL('graphql', document.baseURI);
  http.search = '';
  http.hash = '';
  const ws = new URL(http);
  ws.protocol = http.protocol === 'https:' ? 'wss:' : 'ws:';
  return { http: http.href, ws: ws.href };
}
