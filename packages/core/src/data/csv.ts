// CSV data sets: numeric columns, one of them the label. A header row is detected (any non-numeric
// cell in the first row); errors name the file and line.
import { DataFormatError } from '../errors.js';
import { fromArray } from '../tensor/creation.js';
import { TensorDataset } from './dataset.js';

/**
 * Class labels are below this: a larger one is far more likely a stray value than a class, and would
 * size the model's output layer (and its memory) by itself.
 */
export const MAX_CLASSES = 65_536;

/** Why a class label cannot be used, or null: labels are small non-negative integers. */
export function classLabelProblem(v: number): string | null {
  if (!Number.isInteger(v) || v < 0) return 'is not a non-negative integer';
  if (v >= MAX_CLASSES) return `is ${MAX_CLASSES} or more (labels are class indices from 0)`;
  return null;
}

export interface CsvOptions {
  /** Column name (with a header) or index of the label; default the last column. */
  labelColumn?: string | number;
  /** 'class' labels become int32 class indices; 'value' keeps float targets [N, 1]. */
  labelType?: 'class' | 'value';
  /** Used in error messages. */
  source?: string;
}

export function parseCsv(text: string, options: CsvOptions = {}): TensorDataset {
  const source = options.source ?? 'CSV';
  const lines = text
    .split(/\r?\n/)
    .map((l, i) => ({ cells: l.split(',').map((c) => c.trim()), line: i + 1, empty: l.trim() === '' }));
  const rows = lines.filter((l) => !l.empty);
  if (rows.length === 0) throw new DataFormatError(`${source}: no rows`);
  const hasHeader = rows[0].cells.some((c) => c === '' || Number.isNaN(Number(c)));
  const header = hasHeader ? rows[0].cells : null;
  const body = hasHeader ? rows.slice(1) : rows;
  if (body.length === 0) throw new DataFormatError(`${source}: a header but no data rows`);
  const width = rows[0].cells.length;
  if (width < 2) throw new DataFormatError(`${source}: need at least one feature column and a label column`);

  let labelIndex = width - 1;
  if (typeof options.labelColumn === 'number')
    labelIndex = options.labelColumn < 0 ? width + options.labelColumn : options.labelColumn;
  else if (typeof options.labelColumn === 'string') {
    if (header === null)
      throw new DataFormatError(`${source}: label column "${options.labelColumn}" given but the file has no header`);
    labelIndex = header.indexOf(options.labelColumn);
    if (labelIndex < 0)
      throw new DataFormatError(`${source}: no column named "${options.labelColumn}" (columns: ${header.join(', ')})`);
  }
  if (labelIndex < 0 || labelIndex >= width)
    throw new DataFormatError(`${source}: label column ${options.labelColumn} is out of range`);

  const features = new Float32Array(body.length * (width - 1));
  const labels: number[] = [];
  const asClass = (options.labelType ?? 'class') === 'class';
  body.forEach((row, r) => {
    if (row.cells.length !== width) {
      throw new DataFormatError(`${source}:${row.line}: ${row.cells.length} columns, expected ${width} (ragged row)`);
    }
    let f = r * (width - 1);
    row.cells.forEach((cell, c) => {
      const v = Number(cell);
      if (cell === '' || !Number.isFinite(v))
        throw new DataFormatError(`${source}:${row.line}: column ${c + 1} is not a number: "${cell}"`);
      if (!Number.isFinite(Math.fround(v)))
        throw new DataFormatError(`${source}:${row.line}: column ${c + 1} overflows float32: "${cell}"`);
      if (c === labelIndex) {
        const problem = asClass ? classLabelProblem(v) : null;
        if (problem !== null) throw new DataFormatError(`${source}:${row.line}: class label "${cell}" ${problem}`);
        labels.push(v);
      } else features[f++] = v;
    });
  });
  const inputs = fromArray(features, [body.length, width - 1]);
  const targets = asClass
    ? fromArray(labels, [labels.length], { dtype: 'int32' })
    : fromArray(labels, [labels.length, 1]);
  return new TensorDataset(inputs, targets);
}
