// Writes docs/errors.md from the error-code registry (lib/errors.ts), so the documented codes are
// always the ones the code raises. `npm run docs:errors`; a unit test fails when the file is stale.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { format, resolveConfig } from 'prettier';
import { errorCodes } from '../lib/errors.ts';

const FILE = fileURLToPath(new URL('../docs/errors.md', import.meta.url));

/** The file's content, formatted as `check:format` expects it. */
export async function errorDocs(): Promise<string> {
  const rows = Object.entries(errorCodes).map(
    ([code, { http, description }]) => `| \`${code}\` | ${http} | ${description} |`,
  );
  const markdown = [
    '# Error codes',
    '',
    '<!-- Generated from lib/errors.ts by `npm run docs:errors`; do not edit by hand. -->',
    '',
    'Every GraphQL error Switchboard returns carries one of these in `extensions.code`. Errors passed',
    "up from a chat node also carry `extensions.node` (the node's name). The HTTP status applies when",
    'the error fails the whole request (bad credentials on a WebSocket `connection_init`, a body over the',
    'size limit, invalid JSON); errors inside a response that has data come with HTTP 200.',
    '',
    '| code | HTTP | meaning |',
    '| --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
  return format(markdown, { ...(await resolveConfig(FILE)), parser: 'markdown' });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(FILE, await errorDocs());
}
