#!/usr/bin/env node
// The `localfit` command. tsx (a dependency of @localfit/server) compiles the TypeScript sources on the
// fly, so `npx localfit …` works in the repository without a build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../../models/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
