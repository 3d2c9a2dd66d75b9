// `dtrain worker --connect URL`: a remote node that computes the shards of runs it joins over NATS.
import { ConfigError, DEFAULT_CONFIG, loadRunData, runNode, trainingDigest, type LocalData } from '@dtrain/coordinator';
import { hostname } from 'node:os';
import { makeLogger } from './logger.js';
import { natsAuth, type NatsFlags } from './nats-options.js';

export interface WorkerFlags extends NatsFlags {
  connect: string;
  threads?: number;
  name?: string;
  dataset?: string;
  dataDir?: string;
  device?: 'cpu' | 'webgpu';
  logFormat?: 'pretty' | 'json';
}

/**
 * The node's own copy of a data set on disk, as a run loads it (its digest is checked against the
 * run's before it is used). Generated sets depend on the run's seed, which a node does not know.
 */
async function localData(dataset: string, dataDir: string | undefined): Promise<LocalData> {
  if (dataset === 'spirals' || dataset === 'moons')
    throw new ConfigError(`--dataset ${dataset}: generated data sets come from the coordinator; give a file data set`);
  const runData = await loadRunData(dataset, dataDir ?? DEFAULT_CONFIG.dataDir, 0);
  const { inputs, labels, samples } = runData.train;
  return { digest: trainingDigest(runData), inputs, labels, samples };
}

/** Ctrl-C leaves the job between steps; a second one, a second later, quits at once. */
export async function workerCommand(flags: WorkerFlags): Promise<void> {
  const tty = process.stderr.isTTY === true;
  const log = makeLogger(flags.logFormat ?? (tty ? 'pretty' : 'json'), false);
  const controller = new AbortController();
  let first = 0;
  const onSignal = () => {
    if (first === 0) {
      first = Date.now();
      log.warn('leaving after the step under way (again to quit at once)');
      controller.abort();
    } else if (Date.now() - first > 1000) process.exit(130);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const data = flags.dataset === undefined ? undefined : await localData(flags.dataset, flags.dataDir);
    await runNode({
      localData: data,
      url: flags.connect,
      auth: natsAuth(flags),
      threads: flags.threads ?? 1,
      name: flags.name ?? `${hostname()}-${process.pid}`,
      device: flags.device === 'webgpu' ? 'webgpu' : undefined,
      log: (line) => log.info(line),
      signal: controller.signal,
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
