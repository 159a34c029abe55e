// Types of the two undici files lib/httpClient.ts imports: undici 6 declares its index only.
// CommonJS files, whose module.exports Node and esbuild both hand an ES import as its default.

declare module 'undici/lib/dispatcher/agent.js' {
  import type { Agent } from 'undici';

  const AgentClass: typeof Agent;
  export default AgentClass;
}

declare module 'undici/lib/api/api-request.js' {
  import type { Dispatcher } from 'undici';

  /** undici's request API, called with a dispatcher as `this` (as its index binds it). */
  function request(
    this: Dispatcher,
    options: Dispatcher.RequestOptions,
  ): Promise<Dispatcher.ResponseData>;
  export default request;
}
