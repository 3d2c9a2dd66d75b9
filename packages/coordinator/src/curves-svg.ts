// The run's learning curves as a standalone SVG: loss (left) and accuracy (right) per epoch, train
// and test, with axis labels; no dependencies, viewable in any browser.
import type { EpochReport } from './trainer.js';

const WIDTH = 360;
const HEIGHT = 240;
const MARGIN = { left: 48, right: 12, top: 28, bottom: 36 };

interface Series {
  name: string;
  color: string;
  values: number[];
}

const fmt = (v: number) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toFixed(3));
const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

function panel(title: string, series: Series[], x0: number, fixed?: [number, number]): string {
  const all = series.flatMap((s) => s.values).filter(Number.isFinite);
  let [lo, hi] = fixed ?? [Math.min(...all), Math.max(...all)];
  if (!(hi > lo)) [lo, hi] = [lo - 1, hi + 1];
  const epochs = Math.max(...series.map((s) => s.values.length));
  const w = WIDTH - MARGIN.left - MARGIN.right;
  const h = HEIGHT - MARGIN.top - MARGIN.bottom;
  const px = (i: number) => x0 + MARGIN.left + (epochs === 1 ? w / 2 : (i / (epochs - 1)) * w);
  const py = (v: number) => MARGIN.top + h - ((v - lo) / (hi - lo)) * h;
  const parts = [
    `<text x="${x0 + WIDTH / 2}" y="18" text-anchor="middle" font-weight="bold">${escape(title)}</text>`,
    `<rect x="${x0 + MARGIN.left}" y="${MARGIN.top}" width="${w}" height="${h}" fill="none" stroke="#999"/>`,
    `<text x="${x0 + MARGIN.left - 4}" y="${MARGIN.top + 4}" text-anchor="end">${fmt(hi)}</text>`,
    `<text x="${x0 + MARGIN.left - 4}" y="${MARGIN.top + h}" text-anchor="end">${fmt(lo)}</text>`,
    `<text x="${x0 + MARGIN.left}" y="${HEIGHT - 20}" text-anchor="start">1</text>`,
    `<text x="${x0 + MARGIN.left + w}" y="${HEIGHT - 20}" text-anchor="end">${epochs}</text>`,
    `<text x="${x0 + MARGIN.left + w / 2}" y="${HEIGHT - 6}" text-anchor="middle">epoch</text>`,
  ];
  series.forEach((s, k) => {
    const points = s.values.map((v, i) => `${px(i).toFixed(1)},${py(v).toFixed(1)}`).join(' ');
    parts.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${points}"/>`);
    for (let i = 0; i < s.values.length; i++)
      parts.push(`<circle cx="${px(i).toFixed(1)}" cy="${py(s.values[i]).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
    const ly = MARGIN.top + 14 + k * 14;
    parts.push(
      `<text x="${x0 + MARGIN.left + w - 4}" y="${ly}" text-anchor="end" fill="${s.color}">${escape(s.name)}</text>`,
    );
  });
  return parts.join('\n');
}

export function curvesSvg(history: EpochReport[]): string {
  const pick = (f: (e: EpochReport) => number) => history.map(f);
  const loss = panel(
    'loss',
    [
      { name: 'train', color: '#1f77b4', values: pick((e) => e.trainLoss) },
      { name: 'test', color: '#d62728', values: pick((e) => e.testLoss) },
    ],
    0,
  );
  const accuracy = panel(
    'accuracy',
    [
      { name: 'train', color: '#1f77b4', values: pick((e) => e.trainAccuracy) },
      { name: 'test', color: '#d62728', values: pick((e) => e.testAccuracy) },
    ],
    WIDTH,
    [0, 1],
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * WIDTH}" height="${HEIGHT}" font-family="sans-serif" font-size="11">`,
    '<rect width="100%" height="100%" fill="white"/>',
    loss,
    accuracy,
    '</svg>',
    '',
  ].join('\n');
}
