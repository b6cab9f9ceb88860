// @ts-check
// Lint for the TypeScript (typescript-eslint's strict and stylistic type-checked rules,
// with the type information of tsconfig.test.json, which covers src/, test/, bench/*.ts)
// and for the plain JavaScript of bench/ and scripts/ (ESLint's recommended rules).
// `npm run lint`; scripts/test.sh runs it before the type check and the tests.
import js from '@eslint/js';
import globals from 'globals';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/', 'build/', 'node_modules/', 'tools/'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.strictTypeChecked, tseslint.configs.stylisticTypeChecked],
    languageOptions: {
      parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Numbers and bigints (ports, ifindexes, counters, map keys) go into messages all the
      // time and print as expected; nullish values, objects and arrays still may not.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // `syscall(() => native().bpfPin(...))` and `case 'x': return w.setX(...)` in a
      // void function hand a void on deliberately; a void used as a value still fails.
      '@typescript-eslint/no-confusing-void-expression': [
        'error',
        { ignoreArrowShorthand: true, ignoreVoidReturningFunctions: true },
      ],
      // `.catch(() => {})` on best-effort cleanup and `{ lock: () => {} }` for a store that
      // needs no lock are deliberate no-ops; empty methods and functions still fail.
      '@typescript-eslint/no-empty-function': ['error', { allow: ['arrowFunctions'] }],
      // `env.X || undefined` and `stderr.trim() || '...'` mean it: an empty string is unset.
      '@typescript-eslint/prefer-nullish-coalescing': ['error', { ignorePrimitives: { string: true } }],
      // `const { cniVersion: _v, ...rest } = conf` is how a copy without one key is made.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true, argsIgnorePattern: '^_' }],
      // With noUncheckedIndexedAccess every index after a bounds check, every group of a
      // regex that matched and every Map.get after has() is `T | undefined`; `!` says so in
      // one character where `as T` would hide the same claim (non-nullable-type-assertion-
      // style turns those into `!`). In tests a wrong `!` fails the test at once.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // `async` on implementations of Promise-returning interfaces (AgentCore.close,
      // removeEndpoint, createAgentCore) is deliberate: a throw becomes a rejection.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // The datapath wrappers check every argument again at run time before it reaches the
    // native addon or a map (callers include plain JS, decoded map bytes and the CLI), so
    // conditions the types call impossible are the point there.
    files: ['src/datapath/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unnecessary-condition': 'off',
    },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      // afterAll guards (`dp?.close()`) on what beforeAll may not have opened, and loops on
      // flags that callbacks set, are invisible to TypeScript's narrowing.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // Fuzz inputs delete keys they pick at random, and spread ASCII alphabets into chars.
      '@typescript-eslint/no-dynamic-delete': 'off',
      '@typescript-eslint/no-misused-spread': 'off',
      // vitest's asymmetric matchers (expect.any, expect.stringMatching) are typed `any`.
      '@typescript-eslint/no-unsafe-assignment': 'off',
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    extends: [js.configs.recommended],
    languageOptions: { globals: globals.node },
  },
);
