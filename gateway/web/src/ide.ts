// The in-browser GraphQL IDE served at GET /graphql (Accept: text/html): GraphiQL with the schema's
// docs, a headers editor for `Authorization: Bearer <token>` and subscriptions over graphql-ws, all
// bundled into dist/web so it works with no internet access.
import { createGraphiQLFetcher, type Fetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import 'graphiql/style.css';
import { createElement, StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { graphqlEndpoint } from './endpoint.ts';
import './ide.css';

interface MonacoEnvironment {
  getWorker(workerId: string, label: string): Worker;
}

// GraphiQL loads Monaco lazily; Monaco asks this for its workers, which buildWeb bundled beside the
// page (GraphiQL's own setups point at a CDN or need a vite/webpack loader).
(globalThis as { MonacoEnvironment?: MonacoEnvironment }).MonacoEnvironment = {
  getWorker(_workerId, label) {
    const script =
      label === 'graphql'
        ? __MONACO_WORKERS__.graphql
        : label === 'json'
          ? __MONACO_WORKERS__.json
          : __MONACO_WORKERS__.editor;
    return new Worker(new URL(script, document.baseURI), { name: label });
  },
};

const DEFAULT_QUERY = `# Switchboard GraphQL IDE
#
# 1. Put the password in Login below, run it (the run
#    button, then pick Login) and copy data.login.token.
# 2. In Headers (below the editor) set
#      { "Authorization": "Bearer <token>" }
#    Subscriptions send it over graphql-ws as well.
# 3. Docs: the book icon at the top left.

mutation Login {
  login(username: "admin", password: "<password>") {
    token
    user { id username role }
  }
}

query Nodes {
  nodes { id name status lastSeenAt lastSyncAt }
}

subscription NodeStatus {
  nodeStatusChanged { id name status lastSeenAt }
}
`;

const endpoint = graphqlEndpoint();
const fetchGraphQL = createGraphiQLFetcher({ url: endpoint.http, subscriptionUrl: endpoint.ws });

// The toolkit passes the headers editor's object as graphql-ws connectionParams too; the gateway
// reads `authorization` there, so names are lowercased (HTTP headers are case-insensitive anyway).
const fetcher: Fetcher = (params, options) =>
  fetchGraphQL(
    params,
    options && {
      ...options,
      headers: Object.fromEntries(
        Object.entries(options.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value]),
      ),
    },
  );

const root = document.getElementById('root');
if (!root) throw new Error('the page has no #root element');
createRoot(root).render(
  createElement(
    StrictMode,
    null,
    createElement(GraphiQL, {
      fetcher,
      defaultQuery: DEFAULT_QUERY,
      defaultHeaders: '{}',
      defaultEditorToolsVisibility: 'headers',
    }),
  ),
);
