// `dtrain launch`: options -> a validated RunConfig -> a training run, with a progress bar on a
// terminal, pino logs, and a summary table at the end.
import {
  ConfigError,
  configForRun,
  train,
  type NodesOptions,
  type RunConfig,
  type RunStart,
  type TrainResult,
} from '@dtrain/coordinator';
import { join } from 'node:path';
import { makeLogger } from './logger.js';
import { readConfigFile } from './options.js';
import { ProgressBar } from './progress.js';
import { natsAuth, type NatsFlags } from './nats-options.js';

/** Keys of --config and the flags that say how to reach nodes: not part of the run's identity. */
const NODE_KEYS = ['nats', 'remote', 'joinTimeout', 'token', 'user', 'password', 'creds', 'tlsCa', 'tlsCert', 'tlsKey'];

/** The nodes a run shares its steps with, from flags and --config (flags win), or undefined. */
function nodesOf(given: Record<string, unknown>): NodesOptions | undefined {
  const url = given.nats;
  const remote = given.remote ?? 0;
  const joinTimeout = given.joinTimeout ?? 60;
  if (url === undefined) {
    if (given.remote !== undefined) throw new ConfigError('--remote needs --nats URL');
    return undefined;
  }
  if (typeof url !== 'string') throw new ConfigError('nats: expected a URL such as nats://127.0.0.1:4222');
  if (!Number.isInteger(remote) || (remote as number) < 0) throw new ConfigError('remote: expected an integer >= 0');
  if (typeof joinTimeout !== 'number' || !(joinTimeout > 0))
    throw new ConfigError('join-timeout: expected a number of seconds > 0');
  return { url, auth: natsAuth(given as NatsFlags), remote: remote as number, joinTimeout };
}

export interface LaunchFlags extends Partial<RunConfig>, NatsFlags {
  config?: string;
  nats?: string;
  remote?: number;
  joinTimeout?: number;
  syncBn?: boolean;
  logFormat?: 'pretty' | 'json';
  quiet?: boolean;
}

/**
 * Ctrl-C (or SIGTERM) asks the run to stop after the steps under way, with a checkpoint; a second one
 * more than a second later quits at once. (A terminal's Ctrl-C can reach this process twice at once,
 * directly and through the malloc-tuning parent, hence the second's grace.)
 */
function stopOnSignals(onFirst: () => void): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  let first = 0;
  const handler = () => {
    const now = Date.now();
    if (first === 0) {
      first = now;
      onFirst();
      controller.abort();
    } else if (now - first > 1000) {
      process.exit(130);
    }
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
}

const thousands = (n: number) => Math.round(n).toLocaleString('en-US');

export function summaryTable(start: RunStart, result: TrainResult): string {
  const { config, data } = start;
  const rows: [string, string][] = [
    ['model', `${config.model} (${thousands(start.parameters)} parameters)`],
    ['dataset', `${data.name} (${thousands(data.train)} train / ${thousands(data.test)} test samples)`],
    [
      'workers',
      `${config.workers} threads, ${config.shards} shards of ${config.batchSize / config.shards}` +
        (start.shardGroup > 1 ? `, in groups of ${start.shardGroup}` : '') +
        (config.syncBn ? ', synchronized BatchNorm' : '') +
        (config.device === 'webgpu' ? ', on WebGPU' : ''),
    ],
    ['optimizer', `${config.optimizer}, lr ${config.lr}, ${config.schedule} schedule`],
    ['epochs', `${config.epochs} (${thousands(result.steps)} steps, batch ${config.batchSize})`],
    ['test accuracy', result.test.accuracy.toFixed(4)],
    ['test loss', result.test.loss.toFixed(4)],
    ['time', `${result.seconds.toFixed(1)} s`],
    ['throughput', `${thousands(result.samplesPerSec)} samples/s`],
  ];
  if (result.out !== null) {
    rows.push(
      ['metrics', join(result.out, 'metrics.jsonl')],
      ['curves', join(result.out, 'curves.svg')],
      ['checkpoint', result.checkpoint ?? '(none)'],
    );
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  return ['', 'run summary', ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`), ''].join('\n');
}

export async function launch(flags: LaunchFlags): Promise<void> {
  const { config: configPath, logFormat, quiet, ...given } = flags;
  const fromFile = configPath === undefined ? {} : await readConfigFile(configPath);
  const all: Record<string, unknown> = { ...fromFile, ...given };
  const nodes = nodesOf(all);
  const partial = Object.fromEntries(Object.entries(all).filter(([key]) => !NODE_KEYS.includes(key)));
  // A resumed run continues with its stored settings in its own directory, unless told otherwise.
  if (partial.out === undefined && partial.resume === undefined) partial.out = join('dtrain-runs', timestamp());
  const config = await configForRun(partial);
  const tty = process.stderr.isTTY === true;
  const log = makeLogger(logFormat ?? (tty ? 'pretty' : 'json'), quiet ?? false);
  const bar = tty && !quiet ? new ProgressBar(process.stderr) : null;
  let start: RunStart | null = null;
  const stop = stopOnSignals(() => {
    bar?.clear();
    log.warn('stopping after the steps under way (again to quit at once)');
  });
  const result = await train(config, {
    signal: stop.signal,
    nodes,
    events: {
      onStart: (info) => {
        start = info;
        log.info(
          {
            model: config.model,
            parameters: info.parameters,
            dataset: info.data.name,
            workers: config.workers,
            shards: config.shards,
            shardGroup: info.shardGroup,
            syncBn: config.syncBn || undefined,
            device: config.device === 'cpu' ? undefined : config.device,
            steps: info.totalSteps,
            resumedAt: info.startStep || undefined,
          },
          'training',
        );
      },
      onStep: (r) => bar?.update(r),
      onEpoch: (e) => {
        bar?.clear();
        log.info(
          {
            epoch: e.epoch,
            trainLoss: +e.trainLoss.toFixed(4),
            trainAccuracy: +e.trainAccuracy.toFixed(4),
            testLoss: +e.testLoss.toFixed(4),
            testAccuracy: +e.testAccuracy.toFixed(4),
            samplesPerSec: Math.round(e.samplesPerSec),
          },
          'epoch done',
        );
      },
      onCheckpoint: (dir) => log.debug({ dir }, 'checkpoint written'),
      onWarning: (message) => {
        bar?.clear();
        log.warn(message);
      },
      onNodes: (message) => {
        bar?.clear();
        log.info(message);
      },
    },
  }).finally(() => {
    bar?.clear();
    stop.dispose();
  });
  if (!quiet && start !== null) process.stdout.write(`${summaryTable(start, result)}\n`);
}
