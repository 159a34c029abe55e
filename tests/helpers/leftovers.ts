// Everything a test file starts (servers, databases, temp dirs) is registered here and disposed in
// afterAll, newest first, even when a test failed halfway.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

export class Leftovers {
  readonly #disposers: Array<() => Promise<void> | void> = [];

  add<T>(value: T, dispose: (value: T) => Promise<void> | void): T {
    this.#disposers.push(() => dispose(value));
    return value;
  }

  defer(dispose: () => Promise<void> | void): void {
    this.#disposers.push(dispose);
  }

  async tempDir(prefix = 'switchboard-'): Promise<string> {
    const dir = await mkdtemp(path.join(tmpdir(), prefix));
    this.defer(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  async dispose(): Promise<void> {
    const errors: unknown[] = [];
    for (const dispose of this.#disposers.splice(0).reverse()) {
      try {
        await dispose();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'some leftovers failed to dispose');
  }
}
