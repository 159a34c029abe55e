import { defineCentralSuite } from './centralSuite.ts';

defineCentralSuite('PGlite', { setup: () => Promise.resolve(undefined) });
