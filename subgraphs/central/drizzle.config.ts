import { defineConfig } from 'drizzle-kit';

export default defineConfig({
  dialect: 'postgresql',
  schema: './subgraphs/central/db/schema.ts',
  out: './subgraphs/central/migrations',
});
