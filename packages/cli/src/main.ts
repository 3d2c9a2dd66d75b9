#!/usr/bin/env node
// Entry point of the `dtrain` binary: run the program, turn any error into one line and exit code 1
// (130 for a run stopped by Ctrl-C).
import { CommanderError } from 'commander';

// The packages load inside the try, so a bad environment setting they read at load time
// (DTRAIN_CPU_KERNELS) is one line and exit code 1 too.
let interrupted = (_error: unknown) => false;
try {
  const { relaunchWithMallocTuning, TrainingInterruptedError } = await import('@dtrain/coordinator');
  interrupted = (error) => error instanceof TrainingInterruptedError;
  // Training allocates large tensors every step: run with glibc malloc tuned to keep freed memory.
  if (['launch', 'eval', 'worker'].includes(process.argv[2])) await relaunchWithMallocTuning();
  const { buildProgram } = await import('./program.js');
  await buildProgram().parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode;
  } else {
    process.stderr.write(`dtrain: ${error instanceof Error ? error.message : String(error)}\n`);
    // An interrupted run exits as a process stopped by Ctrl-C does (128 + SIGINT).
    process.exitCode = interrupted(error) ? 130 : 1;
  }
}
