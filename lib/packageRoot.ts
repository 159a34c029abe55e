// Files the code reads at run time (schema/*.graphql, the migrations, the web bundle, bin/) are
// found from the package's root, not from the module's own folder: the same module runs from its
// source (lib/x.ts under vitest) and compiled one folder deeper (dist/lib/x.js), and a release
// ships those files beside dist/, not inside it.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(from: string): string {
  let dir = from;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${from}`);
    dir = parent;
  }
  return dir;
}

/** The folder holding Switchboard's package.json (the clone, or the unpacked release). */
export const packageRoot = findRoot(path.dirname(fileURLToPath(import.meta.url)));

/** An absolute path to a file of the package, e.g. `packagePath('schema', 'node.graphql')`. */
export function packagePath(...segments: string[]): string {
  return path.join(packageRoot, ...segments);
}
