#!/usr/bin/env node
// Registers tsx's loader in this process (no child process that could outlive signals), then
// runs the TypeScript CLI.
import { register } from 'tsx/esm/api';

register();
const { run } = await import('../cli/main.ts');
await run(process.argv.slice(2));
