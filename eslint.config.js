// ESLint (typescript-eslint) for every package, the tests and the bench; prettier owns the layout.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // AssemblyScript (packages/core/assembly) is not TypeScript to these parsers: asc checks it.
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      'packages/core/build/**',
      'packages/core/assembly/**',
      '**/*.generated.ts',
      'bench-results/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: { process: 'readonly', console: 'readonly' } },
    rules: {
      'max-len': ['error', { code: 120, ignoreUrls: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },
  { files: ['**/*.ts'], rules: { 'no-undef': 'off' } },
);
