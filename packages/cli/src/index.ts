// @dtrain/cli as a library: the program, for tests and embedding.
export { buildProgram, VERSION } from './program.js';
