// npm run lint: ESLint's and typescript-eslint's recommended rules on everything that runs (the
// package, its tests, scripts, bench and examples). Formatting is Prettier's (.prettierrc.json), so
// eslint-config-prettier turns off the rules that would disagree with it.
import js from '@eslint/js'
import prettier from 'eslint-config-prettier'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/', 'build/', 'build-*/', 'prebuilds/', 'node_modules/', 'test/oracle/build/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: 'module',
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        __dirname: 'readonly',
        __filename: 'readonly',
        require: 'readonly',
        module: 'writable',
        exports: 'writable',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        queueMicrotask: 'readonly',
        structuredClone: 'readonly',
        SharedArrayBuffer: 'readonly',
        DOMException: 'readonly',
        URL: 'readonly',
        MessageChannel: 'readonly',
        MessagePort: 'readonly',
        globalThis: 'readonly',
        performance: 'readonly',
        TextDecoder: 'readonly',
        TextEncoder: 'readonly',
        AbortController: 'readonly',
        WeakRef: 'readonly',
        FinalizationRegistry: 'readonly',
        gc: 'readonly',
        Bun: 'readonly',
        fetch: 'readonly',
      },
    },
    rules: {
      // Unused names are errors, except those deliberately ignored with a leading underscore.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
    },
  },
  {
    // Tests drop references on purpose (`buffer = undefined`, then wait for the collector) and build
    // arrays with holes to feed them to the package.
    files: ['test/**'],
    rules: { 'no-useless-assignment': 'off', 'no-sparse-arrays': 'off' },
  },
  {
    // CommonJS files: the test helpers and install script are plain CommonJS.
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  prettier,
)
