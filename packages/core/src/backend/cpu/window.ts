// CPU sliding-window kernels over NCHW tensors: im2col / col2im for convolution, max and average pooling.
import type { FloatArray } from '../../tensor/dtype.js';
import type { AvgPoolSpec, Window2d } from '../backend.js';

/**
 * Move between an NCHW tensor and its columns [n, (c*kh + i)*kw + j, oh*outW + ow], the input element
 * at (oh*sh - ph + i*dh, ow*sw - pw + j*dw). toColumns: cols = gather(x), 0 outside the input
 * (im2col). Otherwise x += scatter(cols) (col2im, the adjoint; x zeroed by the caller).
 */
function columns(x: FloatArray, win: Window2d, cols: FloatArray, toColumns: boolean): void {
  const { n, c, h, w, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW } = win;
  const spatial = outH * outW;
  const rows = c * kh * kw;
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const plane = (b * c + ch) * h * w;
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const row = (b * rows + (ch * kh + i) * kw + j) * spatial;
          const dx = j * dilationW - padW;
          // Output columns whose input column lies inside [0, w): ow in [owLo, owHi).
          const owLo = Math.min(outW, Math.max(0, Math.ceil(-dx / strideW)));
          const owHi = Math.max(owLo, Math.min(outW, Math.ceil((w - dx) / strideW)));
          for (let oh = 0; oh < outH; oh++) {
            const ih = oh * strideH - padH + i * dilationH;
            const col = row + oh * outW;
            const inside = ih >= 0 && ih < h;
            const src = plane + ih * w + dx;
            if (!toColumns) {
              if (inside) for (let ow = owLo; ow < owHi; ow++) x[src + ow * strideW] += cols[col + ow];
            } else if (!inside) {
              cols.fill(0, col, col + outW);
            } else {
              for (let ow = 0; ow < owLo; ow++) cols[col + ow] = 0;
              for (let ow = owLo; ow < owHi; ow++) cols[col + ow] = x[src + ow * strideW];
              for (let ow = owHi; ow < outW; ow++) cols[col + ow] = 0;
            }
          }
        }
      }
    }
  }
}

export function im2colKernel(x: FloatArray, win: Window2d, cols: FloatArray): void {
  columns(x, win, cols, true);
}

/** The adjoint of im2colKernel: x (zeroed by the caller) += every column entry at its input position. */
export function col2imKernel(cols: FloatArray, win: Window2d, x: FloatArray): void {
  columns(x, win, cols, false);
}

/** 2x2 windows, stride 2, no padding or dilation (the common case): four loads per output, no bounds checks. */
function maxPool2x2Kernel(x: FloatArray, win: Window2d, values: FloatArray, argmax: Int32Array): void {
  const { n, c, h, w, outH, outW } = win;
  let o = 0;
  for (let p = 0; p < n * c; p++) {
    const plane = p * h * w;
    for (let oh = 0; oh < outH; oh++) {
      let i = plane + 2 * oh * w;
      for (let ow = 0; ow < outW; ow++, i += 2) {
        // First maximum in window order wins ties; a NaN wins over numbers, as in the general kernel.
        let at = i;
        let best = x[i];
        if (x[i + 1] > best || (x[i + 1] !== x[i + 1] && best === best)) {
          best = x[i + 1];
          at = i + 1;
        }
        if (x[i + w] > best || (x[i + w] !== x[i + w] && best === best)) {
          best = x[i + w];
          at = i + w;
        }
        if (x[i + w + 1] > best || (x[i + w + 1] !== x[i + w + 1] && best === best)) {
          best = x[i + w + 1];
          at = i + w + 1;
        }
        values[o] = best;
        argmax[o] = at;
        o++;
      }
    }
  }
}

/** 2x2 windows, stride 2, no padding or dilation: the pooling of most CNNs, with fast paths. */
export function isPool2x2(win: Window2d): boolean {
  const { h, w, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW } = win;
  const unpadded =
    kh === 2 &&
    kw === 2 &&
    strideH === 2 &&
    strideW === 2 &&
    padH === 0 &&
    padW === 0 &&
    dilationH === 1 &&
    dilationW === 1;
  // (ceilMode may add a last window that hangs past an odd edge: the general kernel takes those.)
  return unpadded && 2 * outH <= h && 2 * outW <= w;
}

/** Max over each window (padding acts as -Infinity); argmax holds the flat index into x. */
export function maxPool2dKernel(x: FloatArray, win: Window2d, values: FloatArray, argmax: Int32Array): void {
  const { n, c, h, w, kh, kw, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW } = win;
  if (isPool2x2(win)) {
    maxPool2x2Kernel(x, win, values, argmax);
    return;
  }
  let o = 0;
  for (let p = 0; p < n * c; p++) {
    const plane = p * h * w;
    for (let oh = 0; oh < outH; oh++) {
      for (let ow = 0; ow < outW; ow++) {
        let best = -Infinity;
        let at = -1;
        for (let i = 0; i < kh; i++) {
          const ih = oh * strideH - padH + i * dilationH;
          if (ih < 0 || ih >= h) continue;
          for (let j = 0; j < kw; j++) {
            const iw = ow * strideW - padW + j * dilationW;
            if (iw < 0 || iw >= w) continue;
            const idx = plane + ih * w + iw;
            const v = x[idx];
            if (v > best || v !== v || at < 0) {
              best = v;
              at = idx;
              if (v !== v) break;
            }
          }
        }
        values[o] = best;
        argmax[o] = at;
        o++;
      }
    }
  }
}

function avgWindows(a: FloatArray, win: Window2d, b: FloatArray, forward: boolean, pool: AvgPoolSpec): void {
  const { n, c, h, w, kh, kw, strideH, strideW, padH, padW, outH, outW } = win;
  let o = 0;
  for (let p = 0; p < n * c; p++) {
    const plane = p * h * w;
    for (let oh = 0; oh < outH; oh++) {
      const start = oh * strideH - padH;
      const h0 = Math.max(0, start);
      const h1 = Math.min(h, start + kh);
      // The window within the padded input (a ceilMode window may hang past it).
      const rows = pool.countIncludePad ? Math.min(start + kh, h + padH) - start : h1 - h0;
      for (let ow = 0; ow < outW; ow++) {
        const wStart = ow * strideW - padW;
        const w0 = Math.max(0, wStart);
        const w1 = Math.min(w, wStart + kw);
        const cols = pool.countIncludePad ? Math.min(wStart + kw, w + padW) - wStart : w1 - w0;
        const scale = 1 / (rows * cols);
        if (forward) {
          let s = 0;
          for (let ih = h0; ih < h1; ih++) for (let iw = w0; iw < w1; iw++) s += a[plane + ih * w + iw];
          b[o] = s * scale;
        } else {
          const g = a[o] * scale;
          for (let ih = h0; ih < h1; ih++) for (let iw = w0; iw < w1; iw++) b[plane + ih * w + iw] += g;
        }
        o++;
      }
    }
  }
}

/** Average over each window, divided as PyTorch divides (see AvgPoolSpec). */
export function avgPool2dKernel(x: FloatArray, win: Window2d, out: FloatArray, pool: AvgPoolSpec): void {
  avgWindows(x, win, out, true, pool);
}

/** The adjoint of avgPool2dKernel: gx (zeroed by the caller) += g / divisor over each window. */
export function avgPool2dBackwardKernel(g: FloatArray, win: Window2d, gx: FloatArray, pool: AvgPoolSpec): void {
  avgWindows(g, win, gx, false, pool);
}
