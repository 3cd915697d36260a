import js from '@eslint/js';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';
import noUnyieldedOperation from './eslint-rules/no-unyielded-operation.js';

export default defineConfig(
  globalIgnores(['dist/', 'bench/results/', 'docs/api/']),
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // an operation is a generator function even when it never waits (`function* () { return x; }`)
      'require-yield': 'off',
      // async functions without await implement promise-returning interfaces (fastify hooks, test servers)
      '@typescript-eslint/require-await': 'off',
      // node:test's test()/it()/describe() promises are awaited by the runner itself; a started coroutine
      // (Task) runs whether or not it is awaited, and the runtime reports a failure nobody observed
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite'] },
          ],
          allowForKnownSafePromises: [{ from: 'file', name: 'Task', path: 'src/runtime/types.ts' }],
        },
      ],
      // `_name` marks a parameter a signature needs, or a field left out of a rest object, as unused on purpose
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' },
      ],
      // passing on a caught value as it is (`reject(err)` with `err: unknown`), as only-throw-error allows
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
      // the typed Redis commands are installed on the prototype and declared by a class + interface merge
      '@typescript-eslint/no-unsafe-declaration-merging': 'off',
      // ... whose interfaces only extend the generated command table (`interface RedisClient extends ...{}`)
      '@typescript-eslint/no-empty-object-type': ['error', { allowInterfaces: 'with-single-extends' }],
    },
  },
  {
    // an effect or operation made and dropped never runs: a missing `yield*` (README: "Forgotten yield*")
    files: ['**/*.ts'],
    plugins: { cosocket: { rules: { 'no-unyielded-operation': noUnyieldedOperation } } },
    rules: { 'cosocket/no-unyielded-operation': 'error' },
  },
  {
    // type tests: each line under `@ts-expect-error` is a deliberate type error, so its type is any
    files: ['test/redis/command-types.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
    },
  },
  {
    // bin/ and this file are plain JavaScript outside tsconfig.json: no type information to lint with
    files: ['**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { globals: { process: 'readonly', console: 'readonly' } },
  },
  {
    // the dashboard's page: plain JavaScript run by the browser, served as it is (no build step)
    files: ['dashboard/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: { document: 'readonly', fetch: 'readonly', EventSource: 'readonly' },
    },
  },
);
