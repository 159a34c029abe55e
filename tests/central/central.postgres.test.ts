import { startPostgres } from '../helpers/postgres.ts';
import { defineCentralSuite } from './centralSuite.ts';

defineCentralSuite('PostgreSQL', {
  async setup(leftovers) {
    const cluster = leftovers.add(await startPostgres(), (c) => c.stop());
    return cluster.createDatabase('central_suite');
  },
});
