#!/usr/bin/env node
// The `localfit-server` command (serve, migrate, admin commands: see server/README.md). tsx
// compiles the TypeScript sources on the fly, as for `npm run server`.
import { register } from 'tsx/esm/api';

register();
await import('../cli.ts');
