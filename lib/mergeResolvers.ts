// Resolver maps are written per area (users, rooms, ...); one schema needs them as one map.
type ResolverMap = Record<string, unknown>;

export function mergeResolvers(...maps: ResolverMap[]): Record<string, Record<string, unknown>> {
  const merged: Record<string, Record<string, unknown>> = {};
  for (const map of maps) {
    for (const [typeName, fields] of Object.entries(map)) {
      if (fields === undefined) continue;
      const target = (merged[typeName] ??= {});
      // Scalars (GraphQLScalarType instances) are kept whole, not spread.
      if (typeof fields === 'object' && fields !== null && fields.constructor === Object) {
        for (const [field, resolver] of Object.entries(fields)) {
          if (field in target) throw new Error(`resolver ${typeName}.${field} is defined twice`);
          target[field] = resolver;
        }
      } else {
        merged[typeName] = fields as Record<string, unknown>;
      }
    }
  }
  return merged;
}
