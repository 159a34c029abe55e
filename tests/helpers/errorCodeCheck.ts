// A vitest setup file: after each test file, every error code its `gql` calls received must be in
// the registry (lib/errors.ts, docs/errors.md), so a code the API starts returning without
// documenting it fails whichever test first meets it.
import { afterAll } from 'vitest';
import { isErrorCode } from '../../lib/errors.ts';
import { seenErrorCodes } from './graphql.ts';

afterAll(() => {
  const unregistered = [...seenErrorCodes].filter(([code]) => !isErrorCode(code));
  if (unregistered.length > 0) {
    throw new Error(
      `error codes missing from lib/errors.ts: ${unregistered
        .map(([code, where]) => `${code} (first from ${where})`)
        .join('; ')}`,
    );
  }
});
