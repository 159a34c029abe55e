// The pages in this folder run in a browser. The root tsconfig type-checks the whole repository as
// one Node program, so the DOM's types are added here (they coexist with @types/node).
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="dom.asynciterable" />

/** URLs of Monaco's worker scripts, relative to the page; set by scripts/buildWeb.ts. */
declare const __MONACO_WORKERS__: {
  readonly editor: string;
  readonly json: string;
  readonly graphql: string;
};
