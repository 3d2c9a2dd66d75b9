// The dtrain command line: parses and validates arguments, prints results; no training logic here.
import { localWorkerInfo } from '@dtrain/coordinator';
import { Command } from 'commander';

export const VERSION = '0.1.0';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('dtrain')
    .description('Data-parallel deep-learning trainer: one run, many worker threads or NATS nodes, bitwise-reproducible.')
    .version(VERSION)
    .showHelpAfterError('(run dtrain --help for usage)')
    .exitOverride();

  program
    .command('info')
    .description('print the version, the compute backend and the CPU kernels this machine would use')
    .action(() => {
      const { backend, cpuKernels } = localWorkerInfo();
      process.stdout.write(`dtrain ${VERSION}\nnode ${process.version}\nbackend ${backend}\ncpu kernels ${cpuKernels}\n`);
    });

  return program;
}
