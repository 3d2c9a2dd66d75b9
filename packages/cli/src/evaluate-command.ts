// `dtrain eval`: test loss and accuracy of a checkpoint on its data set (or another one).
import { evaluateCheckpoint } from '@dtrain/coordinator';

export interface EvalFlags {
  checkpoint: string;
  dataset?: string;
  dataDir?: string;
  logFormat?: 'pretty' | 'json';
}

export async function evaluateCommand(flags: EvalFlags): Promise<void> {
  const r = await evaluateCheckpoint(flags.checkpoint, { dataset: flags.dataset, dataDir: flags.dataDir });
  if (flags.logFormat === 'json') {
    process.stdout.write(`${JSON.stringify(r)}\n`);
  } else {
    process.stdout.write(
      `checkpoint     ${r.checkpoint}\ndataset        ${r.dataset} (${r.samples} test samples)\ntest accuracy  ` +
        `${r.accuracy.toFixed(4)}\ntest loss      ${r.loss.toFixed(4)}\n`,
    );
  }
}
