// A client's operation text made ready to run outside Apollo Server's HTTP pipeline (graphql-ws,
// multipart subscriptions): parsed, its operation picked, validated with the same rules, and
// refused with the codes HTTP clients get for the same mistakes (graphql-js sets none).
import {
  getOperationAST,
  GraphQLError,
  Kind,
  parse,
  specifiedRules,
  validate,
  type DocumentNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type ValidationRule,
} from 'graphql';
import { appError, type ErrorCode } from './errors.ts';

/** The refusal of a document whose `operationName` picks no operation (or that holds several). */
export function unresolvedOperation(
  document: DocumentNode,
  wanted: string | null | undefined,
  options: { httpStatus?: boolean } = {},
): GraphQLError {
  const names = document.definitions.flatMap((d) =>
    d.kind === Kind.OPERATION_DEFINITION ? [d.name?.value ?? '(anonymous)'] : [],
  );
  return appError(
    'OPERATION_RESOLUTION_FAILURE',
    wanted
      ? `operationName "${wanted}" names no operation of the document; it holds: ${names.join(', ')}`
      : `the document holds ${names.length} operations (${names.join(', ')}): say which one to run with operationName`,
    options,
  );
}

export interface ParsedOperation {
  readonly document: DocumentNode;
  readonly operation: OperationDefinitionNode;
}

/** Parses and picks the operation, or says why not (GRAPHQL_PARSE_FAILED, OPERATION_RESOLUTION_FAILURE). */
export function parseOperation(
  query: string,
  operationName: string | null | undefined,
  maxTokens: number | undefined,
): ParsedOperation | GraphQLError {
  let document: DocumentNode;
  try {
    document = parse(query, maxTokens === undefined ? {} : { maxTokens });
  } catch (error) {
    return withCode(error, 'GRAPHQL_PARSE_FAILED');
  }
  const operation = getOperationAST(document, operationName);
  if (!operation) return unresolvedOperation(document, operationName);
  return { document, operation };
}

/** graphql-js validation plus `rules` (the query limits), each error with its code. */
export function validateOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  rules: readonly ValidationRule[] = [],
): GraphQLError[] {
  return validate(schema, document, [...specifiedRules, ...rules]).map((e) =>
    withCode(e, 'GRAPHQL_VALIDATION_FAILED'),
  );
}

/** A parse or validation error with the code HTTP clients get for it. */
function withCode(error: unknown, code: ErrorCode): GraphQLError {
  if (!(error instanceof GraphQLError)) return appError(code, String(error));
  return new GraphQLError(error.message, {
    ...(error.nodes ? { nodes: error.nodes } : {}),
    ...(error.source ? { source: error.source } : {}),
    ...(error.positions ? { positions: error.positions } : {}),
    extensions: { ...error.extensions, code },
  });
}
