import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'sqlite',
  schema: './subgraphs/node/db/schema.ts',
  out: './subgraphs/node/migrations',
});
