/** Unit tests: the rendering, banner and verdict-store logic, in jsdom, compiled by ts-jest. */
module.exports = {
  testEnvironment: 'jsdom',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.spec.ts'],
  transform: {
    '^.+\\.tsx?$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  },
  // lumino ships CommonJS builds; nothing from @jupyterlab is imported at run time here
  moduleFileExtensions: ['ts', 'js', 'json'],
  setupFiles: ['<rootDir>/test/setup.js'],
  reporters: ['default'],
  testTimeout: 10000
};
