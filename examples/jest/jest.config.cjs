/** Jest, CommonJS: this example loads the package the way a Jest suite would, with require(). */
module.exports = {
  rootDir: __dirname,
  testEnvironment: 'node',
  testMatch: ['<rootDir>/**/*.test.cjs'],
  testTimeout: 30_000,
};
