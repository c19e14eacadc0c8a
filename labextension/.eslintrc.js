// TypeScript rules for the extension's sources and tests; formatting is prettier's (eslint-config-prettier).
module.exports = {
  root: true,
  parser: '@typescript-eslint/parser',
  parserOptions: { project: './tsconfig.test.json', tsconfigRootDir: __dirname, sourceType: 'module' },
  plugins: ['@typescript-eslint'],
  extends: ['eslint:recommended', 'plugin:@typescript-eslint/recommended', 'prettier'],
  env: { browser: true, es2020: true, node: true, jest: true },
  ignorePatterns: ['lib/', 'node_modules/', '*.js', '!.eslintrc.js'],
  rules: {
    '@typescript-eslint/no-unused-vars': ['error', { args: 'none' }],
    '@typescript-eslint/no-explicit-any': 'error',
    '@typescript-eslint/no-floating-promises': 'error',
    eqeqeq: ['error', 'smart'],
    curly: ['error', 'all'],
    // JupyterLab's own convention for command ids (CommandIDs.showTerms)
    '@typescript-eslint/no-namespace': 'off'
  },
  // tests stand in for JupyterLab objects with partial fakes
  overrides: [{ files: ['test/**/*.ts'], rules: { '@typescript-eslint/no-explicit-any': 'off' } }]
};
