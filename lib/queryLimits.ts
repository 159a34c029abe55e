// Limits on the shape of a GraphQL operation, enforced at validation (before any resolver or
// subgraph request runs): how deep, how costly, how many aliases, directives and tokens. They
// defend the gateway, and every node behind it, against one small request that asks for an
// enormous answer (nested lists, thousands of aliased copies of one field) or that is expensive
// just to parse. Depth, aliases and directives are @escape.tech/graphql-armor's; the cost is
// lib/queryCost.ts, which knows page sizes.
import { ApolloArmor } from '@escape.tech/graphql-armor';
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import {
  GraphQLError,
  validate,
  type DocumentNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type ValidationContext,
  type ValidationRule,
} from 'graphql';
import { appError } from './errors.ts';
import { costLimitMessage, costLimitRule, fragmentsOf, operationCost } from './queryCost.ts';

export interface QueryLimits {
  /** Deepest field nesting (fragments flattened; introspection exempt). @default 12 */
  readonly maxDepth?: number;
  /**
   * Largest static cost: 1 per field, lists multiplying what they select by their page size
   * (lib/queryCost.ts; introspection exempt). @default 100000
   */
  readonly maxCost?: number;
  /** Most aliases in one operation. @default 30 */
  readonly maxAliases?: number;
  /** Most lexical tokens in one document. @default 5000 */
  readonly maxTokens?: number;
  /** Most directives in one operation. @default 50 */
  readonly maxDirectives?: number;
}

export const defaultQueryLimits = {
  maxDepth: 12,
  // A full page of messages (500) in every room (10 assumed) with the README's selection costs
  // about 30000; a page of messages inside another page costs millions.
  maxCost: 100_000,
  maxAliases: 30,
  maxTokens: 5000,
  maxDirectives: 50,
} as const satisfies Required<QueryLimits>;

/**
 * The limits as validation rules (for graphql-ws, whose documents are all clients'), an Apollo
 * plugin that applies them to the requests `applies` accepts, and graphql-js parse options.
 * A plugin rather than Apollo's `validationRules`, because the gateway also runs operations of
 * its own (subscription events, derived from a client's operation that already passed the
 * limits), whose expanded selections would be measured as if a client had sent them.
 */
export function queryLimitRules<TContext extends BaseContext>(
  limits: QueryLimits = {},
  applies: (context: TContext) => boolean = () => true,
): {
  plugins: ApolloServerPlugin<TContext>[];
  validationRules: ValidationRule[];
  parseOptions: { maxTokens: number };
} {
  const armor = new ApolloArmor({
    maxDepth: { n: limits.maxDepth ?? defaultQueryLimits.maxDepth, flattenFragments: true },
    costLimit: { enabled: false },
    maxAliases: { n: limits.maxAliases ?? defaultQueryLimits.maxAliases },
    maxDirectives: { n: limits.maxDirectives ?? defaultQueryLimits.maxDirectives },
    // graphql-armor's token plugin re-parses the query itself and a syntax error thrown there
    // becomes an HTTP 500; graphql-js's own `maxTokens` parse option (parseOptions) does the same
    // job inside Apollo's parse step, answered as GRAPHQL_PARSE_FAILED (400).
    maxTokens: { enabled: false },
    // The schema is public (introspection stays on for the IDE): hiding "did you mean" hints
    // protects nothing and only makes mistakes harder to fix.
    blockFieldSuggestion: { enabled: false },
  });
  const maxCost = limits.maxCost ?? defaultQueryLimits.maxCost;
  const shapeRules = armor.protect().validationRules.map(withoutSyntaxErrorPrefix);
  // The depth, alias and directive limits depend on the document and the schema only, and Apollo
  // hands every request with the same query the same parsed document: measured once per document,
  // not once per request (it was ~3% of the gateway's CPU on a repeated query). So is the cost,
  // unless a page size is a variable.
  const verdicts = new WeakMap<GraphQLSchema, WeakMap<DocumentNode, GraphQLError | null>>();
  const costs = new WeakMap<OperationDefinitionNode, number>();
  const check = (schema: GraphQLSchema, document: DocumentNode): GraphQLError | null => {
    let bySchema = verdicts.get(schema);
    if (!bySchema) verdicts.set(schema, (bySchema = new WeakMap()));
    let verdict = bySchema.get(document);
    if (verdict === undefined) {
      verdict = validate(schema, document, shapeRules)[0] ?? null;
      bySchema.set(document, verdict);
    }
    return verdict;
  };
  const costOf = (
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: Record<string, unknown> | undefined,
  ): number => {
    const known = costs.get(operation);
    if (known !== undefined) return known;
    const { cost, usesVariables } = operationCost(
      schema,
      operation,
      fragmentsOf(document),
      variables ?? {},
    );
    if (!usesVariables) costs.set(operation, cost);
    return cost;
  };
  const plugin: ApolloServerPlugin<TContext> = {
    requestDidStart: ({ contextValue }) => {
      if (!applies(contextValue)) return Promise.resolve();
      return Promise.resolve({
        didResolveOperation: ({ schema, document, operation, request }) => {
          const error = check(schema, document);
          if (error) {
            throw new GraphQLError(error.message, {
              ...(error.nodes ? { nodes: error.nodes } : {}),
              extensions: { code: 'GRAPHQL_VALIDATION_FAILED', http: { status: 400 } },
            });
          }
          if (operation) {
            const cost = costOf(schema, document, operation, request.variables);
            if (cost > maxCost) {
              throw appError('GRAPHQL_VALIDATION_FAILED', costLimitMessage(cost, maxCost), {
                extensions: { cost, maxCost },
                httpStatus: true,
              });
            }
          }
          return Promise.resolve();
        },
      });
    },
  };
  return {
    plugins: [plugin],
    validationRules: [...shapeRules, costLimitRule(maxCost)],
    parseOptions: { maxTokens: limits.maxTokens ?? defaultQueryLimits.maxTokens },
  };
}

/**
 * graphql-armor words its refusals "Syntax Error: Query depth limit of ..."; they are validation
 * failures, and clients that show the message should not send the user looking for a typo.
 */
function withoutSyntaxErrorPrefix(rule: ValidationRule): ValidationRule {
  return (context) => {
    const reworded = Object.create(context, {
      reportError: {
        value: (error: GraphQLError) =>
          context.reportError(
            new GraphQLError(error.message.replace(/^Syntax Error: /, ''), {
              ...(error.nodes ? { nodes: error.nodes } : {}),
              extensions: error.extensions,
            }),
          ),
      },
    }) as ValidationContext;
    return rule(reworded);
  };
}
