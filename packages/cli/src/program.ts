// The dtrain command line: parses and validates arguments, prints results; no training logic here.
import { DEFAULT_CONFIG, DTRAIN_VERSION, IMAGE_DEFAULTS, localWebGpuInfo, localWorkerInfo } from '@dtrain/coordinator';
import { Command, Option } from 'commander';
import { evaluateCommand } from './evaluate-command.js';
import { launch } from './launch.js';
import { addNatsAuthOptions } from './nats-options.js';
import { workerCommand } from './worker-command.js';
import { choiceOption, integerOption, numberOption } from './options.js';

export const VERSION = DTRAIN_VERSION;

const d = DEFAULT_CONFIG;

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('dtrain')
    .description(
      'Data-parallel deep-learning trainer: one run, many worker threads or NATS nodes, bitwise-reproducible.',
    )
    .version(VERSION)
    .showHelpAfterError('(run dtrain --help for usage)')
    .exitOverride();

  const launchCommand = program
    .command('launch')
    .description(
      'train a model on worker threads and, with --nats, remote nodes (defaults: an MLP on generated spirals)',
    )
    .option(
      '--config <file>',
      'JSON file with any of these options (keys as the flags, kebab- or camelCase); flags win',
    )
    .option('--workers <n>', `worker threads (default ${d.workers})`, integerOption(1))
    .option('--model <name>', `mlp | cnn | PATH.json, a model spec (default ${d.model})`)
    .option('--dataset <name>', `spirals | moons | fashion-mnist | idx:DIR | csv:FILE (default ${d.dataset})`)
    .option('--data-dir <dir>', `where fashion-mnist's IDX files are (default ${d.dataDir})`)
    .option('--epochs <n>', `epochs (default ${d.epochs})`, integerOption(1))
    .option(
      '--batch-size <n>',
      `global batch size, a multiple of --shards (default ${d.batchSize}; ${IMAGE_DEFAULTS.batchSize} for image ` +
        `data sets)`,
      integerOption(1),
    )
    .option(
      '--shards <n>',
      `equal shards per batch, fixed whatever the worker count (default ${d.shards})`,
      integerOption(1),
    )
    .option('--optimizer <name>', `sgd | adam | adamw (default ${d.optimizer})`, choiceOption(['sgd', 'adam', 'adamw']))
    .option(
      '--lr <rate>',
      `learning rate (default ${d.lr}; ${IMAGE_DEFAULTS.lr} for image data sets)`,
      numberOption(0, true),
    )
    .option('--momentum <m>', `SGD momentum (default ${d.momentum})`, numberOption(0, false))
    .option('--weight-decay <w>', `weight decay (default ${d.weightDecay})`, numberOption(0, false))
    .option(
      '--schedule <name>',
      `constant | step | exponential | cosine | warmup (default ${d.schedule})`,
      choiceOption(['constant', 'step', 'exponential', 'cosine', 'warmup']),
    )
    .option('--seed <n>', `seed of initialization, data order and dropout (default ${d.seed})`, integerOption(0))
    .option('--out <dir>', 'output directory: metrics.jsonl, curves.svg, checkpoints/ (default dtrain-runs/<time>)')
    .option(
      '--checkpoint-every <steps>',
      'also checkpoint every N steps (default: at the end of each epoch)',
      integerOption(0),
    )
    .option(
      '--resume <dir>',
      'continue a run (a run directory or a checkpoint) with its stored settings; only --epochs (constant ' +
        'schedule), --workers, --checkpoint-every, --keep-checkpoints, --data-dir and --out may change',
    )
    .option(
      '--keep-checkpoints <n>',
      `checkpoints kept: the newest N plus the best by test loss; 0 keeps all (default ${d.keepCheckpoints})`,
      integerOption(0),
    )
    .option('--sync-bn', "synchronized BatchNorm: every shard normalizes with the whole global batch's statistics")
    .option(
      '--device <kind>',
      `cpu | webgpu: what the threads compute shards on (webgpu: each thread its own device; default ${d.device})`,
      choiceOption(['cpu', 'webgpu']),
    )
    .option(
      '--allow-device-change',
      'with --resume: continue on another device or adapter than the run computed on (close, not identical)',
    )
    .addOption(
      new Option('--log-format <format>', 'pretty | json (default: pretty on a terminal, else json)').choices([
        'pretty',
        'json',
      ]),
    )
    .option('--quiet', 'only warnings and errors; no progress bar or summary')
    .option('--nats <url>', 'share the steps with remote nodes through this NATS server (nats://HOST:PORT)')
    .option('--remote <n>', 'with --nats: nodes to wait for before the first step (default 0)', integerOption(0))
    .option('--join-timeout <s>', 'with --nats: seconds to wait for them (default 60)', numberOption(0, true));
  addNatsAuthOptions(launchCommand).action(async (flags) => launch(flags));

  const worker = program
    .command('worker')
    .description('a remote node: computes the shards of the runs it joins over NATS, one after another')
    .requiredOption('--connect <url>', 'the NATS server of the runs (nats://HOST:PORT or tls://HOST:PORT)')
    .option('--threads <n>', 'compute threads (default 1)', integerOption(1))
    .option('--name <name>', 'how the coordinator names this node (default HOST-PID)')
    .option(
      '--device <kind>',
      'cpu | webgpu: what the threads compute shards on (joins only runs on the same; default cpu)',
      choiceOption(['cpu', 'webgpu']),
    )
    .option(
      '--dataset <name>',
      "a local copy of the run's data set (fashion-mnist | idx:DIR | csv:FILE): used when its sha256 is the run's",
    )
    .option('--data-dir <dir>', `where fashion-mnist is (default ${d.dataDir})`)
    .addOption(new Option('--log-format <format>', 'pretty | json').choices(['pretty', 'json']));
  addNatsAuthOptions(worker).action(async (flags) => workerCommand(flags));

  program
    .command('eval')
    .description('test loss and accuracy of a checkpoint')
    .requiredOption('--checkpoint <dir>', 'a checkpoint directory or a run directory (its latest checkpoint)')
    .option('--dataset <name>', "data set to test on (default: the checkpoint's)")
    .option('--data-dir <dir>', 'where fashion-mnist is')
    .addOption(new Option('--log-format <format>', 'pretty | json').choices(['pretty', 'json']))
    .action(async (flags) => evaluateCommand(flags));

  program
    .command('info')
    .description('print the version, the compute backend, the CPU kernels and the WebGPU adapters it sees')
    .action(async () => {
      const { backend, cpuKernels } = localWorkerInfo();
      process.stdout.write(
        `dtrain ${VERSION}\nnode ${process.version}\nbackend ${backend}\ncpu kernels ${cpuKernels}\n`,
      );
      process.stdout.write((await localWebGpuInfo()).map((line) => `${line}\n`).join(''));
      // Dawn's instance would keep the process alive.
      process.exit(0);
    });

  return program;
}
