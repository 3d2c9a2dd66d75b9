// `dtrain worker --connect URL`: a remote node that computes the shards of runs it joins over NATS.
import { runNode } from '@dtrain/coordinator';
import { hostname } from 'node:os';
import { makeLogger } from './logger.js';
import { natsAuth, type NatsFlags } from './nats-options.js';

export interface WorkerFlags extends NatsFlags {
  connect: string;
  threads?: number;
  name?: string;
  logFormat?: 'pretty' | 'json';
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
    await runNode({
      url: flags.connect,
      auth: natsAuth(flags),
      threads: flags.threads ?? 1,
      name: flags.name ?? `${hostname()}-${process.pid}`,
      log: (line) => log.info(line),
      signal: controller.signal,
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
