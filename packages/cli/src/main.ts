#!/usr/bin/env node
// Entry point of the `dtrain` binary: run the program, turn any error into one line and exit code 1
// (130 for a run stopped by Ctrl-C).
import { relaunchWithMallocTuning, TrainingInterruptedError } from '@dtrain/coordinator';
import { CommanderError } from 'commander';
import { buildProgram } from './program.js';

// Training allocates large tensors every step: run with glibc malloc tuned to keep freed memory.
if (process.argv[2] === 'launch' || process.argv[2] === 'eval') await relaunchWithMallocTuning();

try {
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode;
  } else {
    process.stderr.write(`dtrain: ${error instanceof Error ? error.message : String(error)}\n`);
    // An interrupted run exits as a process stopped by Ctrl-C does (128 + SIGINT).
    process.exitCode = error instanceof TrainingInterruptedError ? 130 : 1;
  }
}
