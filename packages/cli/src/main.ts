#!/usr/bin/env node
// Entry point of the `dtrain` binary: run the program, turn any error into one line and exit code 1.
import { CommanderError } from 'commander';
import { buildProgram } from './program.js';

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode;
  } else {
    process.stderr.write(`dtrain: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  }
}
