// Flat config: typescript-eslint's recommended rules with type information, so promise
// misuse (a floating promise in a server is a lost error) is caught before review.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['node_modules/', 'data/', '**/__generated__/', 'test-output/', 'bin/', '**/dist/'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-floating-promises': 'error',
    },
  },
  {
    // What every process loads before it is ready (issue 18): jose's index imports all of JWE, JWS
    // and key handling, about 40 ms of CPU at each start of central, a node or the gateway; the
    // server code imports only the subpaths it uses (jose/jwt/verify, jose/errors, ...). And
    // @apollo/gateway's index loads OpenTelemetry's metrics SDK that only Apollo's telemetry uses.
    files: ['cli/**/*.ts', 'lib/**/*.ts', 'gateway/**/*.ts', 'subgraphs/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: 'jose',
              message: "Import from jose's subpaths (jose/jwt/verify, jose/errors, ...).",
              allowTypeImports: true,
            },
            {
              // gateway/apolloGateway.ts loads it with Apollo's telemetry packages deferred.
              name: '@apollo/gateway',
              message: "Import @apollo/gateway's values from gateway/apolloGateway.ts.",
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
  {
    // Tests read deep into GraphQL responses; typing every shape there buys little.
    files: ['tests/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    files: ['eslint.config.js'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
