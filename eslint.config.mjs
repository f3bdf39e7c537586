// Lint rules that guard the two things the compiler cannot: promises nobody awaits,
// and workflow code that would break Temporal's deterministic sandbox.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';
import globals from 'globals';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.data/**', '.tools/**', 'blocks/**', 'eslint.config.mjs', 'bin/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': ['error', {
        // node:test's test()/describe() return promises the runner itself tracks.
        allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] }],
      }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // Plain CommonJS scripts (scripts/, bin/) run on Node.
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { ...globals.node } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Workflow code and the shared modules it imports run inside Temporal's sandbox:
    // no Node built-ins, no Docker client, and only *type* imports from activities.
    files: ['workflows/**/*.ts', 'common/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [
          ...nodeBuiltins.map((name) => ({ name, message: 'Workflow code runs in the Temporal sandbox: no Node built-ins.' })),
          { name: 'dockerode', message: 'Workflow code must not talk to Docker; do it in an activity.' },
        ],
        patterns: [
          { group: ['**/activities', '**/activities/**'], allowTypeImports: true, message: 'Only type imports from activities/ are allowed in workflow code.' },
          { group: ['@temporalio/worker', '@temporalio/client', '@temporalio/activity'], message: 'Not available in the workflow sandbox.' },
        ],
      }],
    },
  },
);
