// Keypoint codes in the browser: the same steps, in the same order and precision, as hashwall's
// src/hashwall/hashing/keypoints.py and its numba kernels (_keypoint_kernels.py), so that a
// photo banked from the browser carries the keypoints the server would find in it.
//
// 1. Luminance (PDQ's weights) in float32, resized so that the longer side is `base` pixels (an
//    upload's: more, for its shorter side to reach `minShort`; workingSide) as Pillow 13
//    resizes a mode "F" image (ImagingResample: BOX when shrinking, BILINEAR when enlarging;
//    per output pixel normalised float64 weights, two passes in Pillow's order, each stored
//    as float32), row by row as the picture's rows arrive.
// 2. Scale space: per octave, Gaussians of sigma 1.6 * 2^(i/3) (float32 blurs summed tap by
//    tap), their differences, the next octave from every other pixel of the fourth Gaussian.
// 3. Extrema over 3 x 3 x 3 neighbours, contrast and edge tests, parabola fits; the `limit`
//    strongest (half of them from the coarser octaves), ties in a fixed order.
// 4. Orientations: the peaks of a 36-bin histogram of gradient angles.
// 5. A 32 x 32 patch of half side 6 sigma turned to the orientation (bilinear samples).
// 6. Code: the signs of the patch's 8 x 8 lowest DCT coefficients, the constant one left out.
//
// Where numba computes in float32 this module rounds with Math.fround (or stores into a
// Float32Array); where it computes in float64, plain numbers. The result is the server's
// Keypoints.to_bytes(): 16 bytes per keypoint (u64 code, u16 x, y, scale, angle; little-endian).
// A pure module (no DOM): a worker may import it.

export const BANK_BASE = 512; // longer side of the working image when banking
export const BANK_LIMIT = 64; // keypoints kept per banked photo
export const QUERY_BASE = 512; // an upload's: the same base,
export const QUERY_MIN_SHORT = 384; // its shorter side at least this (up to twice the base)
export const QUERY_LIMIT = 160; // and this many keypoints kept
export const RECORD_BYTES = 16;

const SIGMA0 = 1.6;
const LEVELS_PER_OCTAVE = 3;
const MAX_OCTAVES = 6;
const MIN_OCTAVE_SIDE = 12;
const CONTRAST = 1.0;
const EDGE_RATIO = 10.0;
const PATCH = 32;
const PATCH_HALF = 6.0;
const DCT_SIDE = 8;
const ORIENTATION_BINS = 36;
const ORIENTATION_PEAK = 0.8;
// Python's 2.0 ** (1.0 / 3) and the sigmas SIGMA0 * K ** i of the levels, written out: this
// engine's pow may differ from libm's in the last bit (it does for i = 4).
const K = 1.2599210498948732;
const SIGMAS = [
  1.6, 2.015873679831797, 2.5398416831491195, 3.2, 4.031747359663594, 5.079683366298239,
];

const f32 = Math.fround;

/** Python's round(): to the nearest integer, halves to even. */
function roundHalfEven(x) {
  const r = Math.round(x);
  if (Math.abs(x - Math.trunc(x)) === 0.5) return 2 * Math.round(x / 2);
  return r;
}

/** Python's %: the sign of the divisor. */
function mod(a, n) {
  return ((a % n) + n) % n;
}

// ---------------------------------------------------------------------------------------------
// 1. Luminance and Pillow's resampling of a mode "F" image

/**
 * float32 luminance of `count` RGBA pixels from rgba[4 * from ...] into grey[offset ...]:
 * r * 0.299 + g * 0.587 + b * 0.114, each step rounded.
 */
function luminanceInto(grey, offset, rgba, from, count) {
  const wr = f32(0.299);
  const wg = f32(0.587);
  const wb = f32(0.114);
  for (let i = 0, p = 4 * from; i < count; i++, p += 4) {
    grey[offset + i] = f32(f32(f32(rgba[p] * wr) + f32(rgba[p + 1] * wg)) + f32(rgba[p + 2] * wb));
  }
}

const BOX = { support: 0.5, filter: (x) => (x > -0.5 && x <= 0.5 ? 1.0 : 0.0) };
const BILINEAR = {
  support: 1.0,
  filter(x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
  },
};

/** Pillow's precompute_coeffs: per output pixel the first input pixel, the count, weights. */
function precomputeCoeffs(inSize, outSize, filter) {
  const scale = inSize / outSize;
  const filterscale = scale < 1.0 ? 1.0 : scale;
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const inv = 1.0 / filterscale;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Float64Array(outSize * ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = 0 + (xx + 0.5) * scale;
    let ww = 0.0;
    let xmin = Math.trunc(center - support + 0.5); // C's (int) cast
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    const k = xx * ksize;
    for (let x = 0; x < xmax; x++) {
      const w = filter.filter((x + xmin - center + 0.5) * inv);
      kk[k + x] = w;
      ww += w;
    }
    if (ww !== 0.0) for (let x = 0; x < xmax; x++) kk[k + x] /= ww;
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

/** One row of Pillow's horizontal pass: out[o + xx] = sum of line[xmin + x] * weight (float64). */
function horizontalRow(line, coeffs, out, o) {
  const { bounds, kk, ksize } = coeffs;
  const n = bounds.length >> 1;
  for (let xx = 0; xx < n; xx++) {
    const xmin = bounds[xx * 2];
    const xmax = bounds[xx * 2 + 1];
    const k = xx * ksize;
    let ss = 0.0;
    for (let x = 0; x < xmax; x++) ss += line[x + xmin] * kk[k + x];
    out[o + xx] = ss;
  }
}

/**
 * Pillow's vertical pass over rows that arrive one by one, top to bottom: each output row's
 * float64 sum takes its input rows in the order Pillow's loop does (y ascending), so only the
 * rows whose windows are open are kept. push(y, row) hands over input row y (`width` floats);
 * emit(yy, sums) gets each output row once its last input row has come.
 */
function verticalPass(inSize, outSize, filter, width, emit) {
  const { bounds, kk, ksize } = precomputeCoeffs(inSize, outSize, filter);
  const open = new Map(); // output row -> its float64 sums so far
  let first = 0; // the first output row not yet emitted
  return (y, row) => {
    for (let yy = first; yy < outSize && bounds[yy * 2] <= y; yy++) {
      const ymin = bounds[yy * 2];
      const count = bounds[yy * 2 + 1];
      if (y >= ymin + count) continue;
      let sums = open.get(yy);
      if (!sums) {
        sums = new Float64Array(width);
        open.set(yy, sums);
      }
      const w = kk[yy * ksize + (y - ymin)];
      for (let x = 0; x < width; x++) sums[x] += row[x] * w;
    }
    // Rows whose windows end here are done (windows only move down); one that no input row
    // reaches (none when shrinking) stays all zeros, as in Pillow.
    while (first < outSize && bounds[first * 2] + bounds[first * 2 + 1] <= y + 1) {
      const sums = open.get(first);
      open.delete(first);
      if (sums) emit(first, sums);
      first++;
    }
  };
}

/**
 * working_side: the working image's longer side, `base`, or more so that the shorter side is at
 * least `minShort` (null: no such wish), up to twice `base`.
 */
export function workingSide(width, height, base, minShort = null) {
  if (minShort === null) return base;
  const longer = Math.max(width, height);
  const shorter = Math.max(1, Math.min(width, height));
  // Integers' ratio in float64 and its ceiling, as Python's math.ceil(min_short * longer / shorter).
  return Math.min(Math.max(base, Math.ceil((minShort * longer) / shorter)), 2 * base);
}

/**
 * The working image (_luminance) of RGBA pixels that arrive strip by strip, top to bottom:
 * luminance with its longer side resized to `side` as Image.fromarray(grey, "F").resize(size,
 * BOX or BILINEAR) does with Pillow 13. Pillow resizes in two passes, each output pixel a
 * float64 sum stored as float32: horizontally then vertically, or vertically first when the
 * height shrinks by more than twice the pixels the width does (ImagingResampleInner since
 * Pillow 13). Both passes run as the rows come, so the picture itself is never held.
 * addRows(rgba, y0, count) with every row once, in order, then finish() -> { img, w, h }.
 */
export function workingImageOfRows(width, height, side) {
  const k = side / Math.max(width, height);
  const w = Math.max(1, roundHalfEven(width * k));
  const h = Math.max(1, roundHalfEven(height * k));
  const filter = k < 1 ? BOX : BILINEAR;
  const needH = w !== width;
  const needV = h !== height;
  const verticalFirst = h < height && height - h > 2 * (width - w);
  const hor = needH ? precomputeCoeffs(width, w, filter) : null;
  const out = new Float32Array(w * h);
  const line = new Float32Array(width); // one row's luminance
  const narrowed = new Float32Array(w); // one row after the horizontal pass
  let push; // (y, luminance row) -> the passes
  if (!needV) {
    push = (y, row) => (hor ? horizontalRow(row, hor, out, y * w) : out.set(row, y * w));
  } else if (!needH) {
    push = verticalPass(height, h, filter, width, (yy, sums) => out.set(sums, yy * w));
  } else if (verticalFirst) {
    const shortened = new Float32Array(width); // one row after the vertical pass
    push = verticalPass(height, h, filter, width, (yy, sums) => {
      shortened.set(sums);
      horizontalRow(shortened, hor, out, yy * w);
    });
  } else {
    const vertical = verticalPass(height, h, filter, w, (yy, sums) => out.set(sums, yy * w));
    push = (y, row) => {
      horizontalRow(row, hor, narrowed, 0);
      vertical(y, narrowed);
    };
  }
  let next = 0;
  return {
    addRows(rgba, y0, count) {
      if (y0 !== next) throw new Error(`rows must come in order: ${y0} after ${next}`);
      for (let r = 0; r < count; r++) {
        luminanceInto(line, 0, rgba, r * width, width);
        push(y0 + r, line);
      }
      next = y0 + count;
    },
    finish: () => ({ img: out, w, h }),
  };
}

// ---------------------------------------------------------------------------------------------
// 2. Scale space

/** numpy's pairwise sum of a short float64 array (up to 128 values), as ndarray.sum does it. */
function pairwiseSum(a) {
  const n = a.length;
  if (n < 8) {
    let res = -0.0;
    for (let i = 0; i < n; i++) res += a[i];
    return res;
  }
  const r = a.slice(0, 8);
  let i = 8;
  for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] += a[i + j];
  let res = r[0] + r[1] + (r[2] + r[3]) + (r[4] + r[5] + (r[6] + r[7]));
  for (; i < n; i++) res += a[i];
  return res;
}

/** _gaussian(sigma): float32 weights of radius max(1, ceil(4 sigma)), normalised in float64. */
export function gaussian(sigma) {
  const radius = Math.max(1, Math.ceil(4.0 * sigma));
  const w = new Float64Array(2 * radius + 1);
  for (let i = 0; i < w.length; i++) {
    const t = i - radius;
    w[i] = Math.exp(-(t * t) / (2.0 * sigma * sigma));
  }
  const sum = pairwiseSum(w);
  return Float32Array.from(w, (v) => v / sum);
}

/** The weights of the scale space: the first blur and the steps between levels. */
function scaleKernels() {
  const sigmas = SIGMAS;
  const steps = [null];
  for (let i = 1; i < sigmas.length; i++) {
    const a = sigmas[i] * sigmas[i];
    const b = sigmas[i - 1] * sigmas[i - 1];
    steps.push(gaussian(Math.sqrt(a - b)));
  }
  return { first: gaussian(SIGMA0), steps };
}

let kernelsCache = null;

/** blur: separable float32 convolution, borders clamped, rows then columns, taps in order. */
export function blur(img, w, h, weights) {
  const r = weights.length >> 1;
  const tmp = new Float32Array(w * h);
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    const o = y * w;
    for (let k = -r; k <= r; k++) {
      const wk = weights[k + r];
      const lo = Math.min(Math.max(-k, 0), w);
      const hi = Math.max(Math.min(w - k, w), lo);
      const first = f32(wk * img[o]);
      for (let x = 0; x < lo; x++) tmp[o + x] += first;
      for (let x = lo; x < hi; x++) tmp[o + x] += f32(wk * img[o + x + k]);
      const last = f32(wk * img[o + w - 1]);
      for (let x = hi; x < w; x++) tmp[o + x] += last;
    }
  }
  for (let y = 0; y < h; y++) {
    const o = y * w;
    for (let k = -r; k <= r; k++) {
      const wk = weights[k + r];
      const s = Math.min(Math.max(y + k, 0), h - 1) * w;
      for (let x = 0; x < w; x++) out[o + x] += f32(wk * tmp[s + x]);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// 3. Extrema

/** _fit of float32 values: the parabola's vertex offset (a - c in float32, the rest float64). */
function fit32(a, b, c) {
  const den = a - 2.0 * b + c;
  if (den === 0.0) return 0.0;
  return Math.min(Math.max((0.5 * f32(a - c)) / den, -0.5), 0.5);
}

/** _fit of float64 values. */
function fit64(a, b, c) {
  const den = a - 2.0 * b + c;
  if (den === 0.0) return 0.0;
  return Math.min(Math.max((0.5 * (a - c)) / den, -0.5), 0.5);
}

/**
 * extrema of a difference-of-Gaussians stack (an array of float32 levels of w x h): rows of
 * [octave, level, y, x, y + offset, x + offset, level + offset, |response|].
 */
function extrema(dog, w, h, octave, rows) {
  const limit = (EDGE_RATIO + 1.0) ** 2 / EDGE_RATIO;
  for (let lv = 1; lv < dog.length - 1; lv++) {
    const d = dog[lv];
    for (let y = 2; y < h - 2; y++) {
      for (let x = 2; x < w - 2; x++) {
        const i = y * w + x;
        const v = d[i];
        if (Math.abs(v) <= CONTRAST) continue;
        let isMax = true;
        let isMin = true;
        for (let dl = -1; dl <= 1 && (isMax || isMin); dl++) {
          const e = dog[lv + dl];
          for (let dy = -1; dy <= 1; dy++) {
            for (let dx = -1; dx <= 1; dx++) {
              if (dl === 0 && dy === 0 && dx === 0) continue;
              const u = e[i + dy * w + dx];
              if (u > v) isMax = false;
              if (u < v) isMin = false;
            }
          }
        }
        if (!((isMax && v > 0) || (isMin && v < 0))) continue;
        const dxx = f32(d[i + 1] + d[i - 1]) - 2.0 * v;
        const dyy = f32(d[i + w] + d[i - w]) - 2.0 * v;
        const dxy = f32(f32(f32(d[i + w + 1] - d[i + w - 1]) - d[i - w + 1]) + d[i - w - 1]) / 4.0;
        const tr = dxx + dyy;
        const det = dxx * dyy - dxy * dxy;
        if (det <= 0.0 || (tr * tr) / det >= limit) continue;
        rows.push([
          octave,
          lv,
          y,
          x,
          y + fit32(d[i - w], v, d[i + w]),
          x + fit32(d[i - 1], v, d[i + 1]),
          lv + fit32(dog[lv - 1][i], v, dog[lv + 1][i]),
          Math.abs(v),
        ]);
      }
    }
  }
}

/** _select: the indices of the rows kept, strongest first (half of `limit` from octaves >= 1). */
function select(rows, limit) {
  const order = rows.map((_, i) => i);
  order.sort((a, b) => {
    const ra = rows[a];
    const rb = rows[b];
    if (ra[7] !== rb[7]) return rb[7] - ra[7] > 0 ? 1 : -1;
    for (const c of [0, 1, 2, 3]) if (ra[c] !== rb[c]) return ra[c] - rb[c];
    return a - b;
  });
  const keep = new Array(order.length).fill(false);
  let kept = 0;
  const half = Math.floor(limit / 2);
  for (let i = 0; i < order.length && kept < half; i++) {
    if (rows[order[i]][0] >= 1) {
      keep[i] = true;
      kept++;
    }
  }
  let more = limit - kept;
  for (let i = 0; i < order.length && more > 0; i++) {
    if (!keep[i]) {
      keep[i] = true;
      more--;
    }
  }
  return order.filter((_, i) => keep[i]);
}

// ---------------------------------------------------------------------------------------------
// 4.-6. Orientations, patches, codes

/** orientations: at most two dominant gradient directions around (cx, cy), strongest first. */
function orientations(img, w, h, cx, cy, sigma) {
  const nb = ORIENTATION_BINS;
  const hist = new Float64Array(nb);
  const sw = 1.5 * sigma;
  const r = Math.floor(3.0 * sw + 0.5);
  const x0 = Math.max(1, Math.trunc(cx) - r);
  const x1 = Math.min(w - 2, Math.trunc(cx) + r);
  const y0 = Math.max(1, Math.trunc(cy) - r);
  const y1 = Math.min(h - 2, Math.trunc(cy) + r);
  const twoPi = 2.0 * Math.PI;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      // In float64, as the server: the gradient, its angle, its length, the weight.
      const gx = img[y * w + x + 1] - img[y * w + x - 1];
      const gy = img[(y + 1) * w + x] - img[(y - 1) * w + x];
      const ddx = x - cx;
      const ddy = y - cy;
      const wgt = Math.exp(-(ddx * ddx + ddy * ddy) / (2.0 * sw * sw));
      const a = Math.atan2(gy, gx);
      const b = Math.trunc(((a + Math.PI) / twoPi) * nb) % nb;
      hist[b] += Math.sqrt(gx * gx + gy * gy) * wgt;
    }
  }
  const smooth = new Float64Array(nb);
  let top = -Infinity;
  for (let i = 0; i < nb; i++) {
    smooth[i] =
      (hist[mod(i - 2, nb)] +
        4.0 * hist[mod(i - 1, nb)] +
        6.0 * hist[i] +
        4.0 * hist[(i + 1) % nb] +
        hist[(i + 2) % nb]) /
      16.0;
    if (smooth[i] > top) top = smooth[i];
  }
  const out = [];
  const strength = [0.0, 0.0];
  if (top <= 0.0) return out;
  for (let i = 0; i < nb; i++) {
    const a = smooth[mod(i - 1, nb)];
    const b = smooth[i];
    const c = smooth[(i + 1) % nb];
    if (b >= ORIENTATION_PEAK * top && b > a && b > c) {
      const angle = (((i + 0.5 + fit64(a, b, c)) / nb) * 2.0) * Math.PI - Math.PI;
      if (out.length < 2) {
        strength[out.length] = b;
        out.push(angle);
      } else if (b > strength[1]) {
        out[1] = angle;
        strength[1] = b;
      }
      if (out.length === 2 && strength[1] > strength[0]) {
        out.reverse();
        strength.reverse();
      }
    }
  }
  return out;
}

/** sample_patch: size x size bilinear samples (float32) of the turned square of half side half. */
function samplePatch(img, w, h, cx, cy, half, angle, size) {
  const step = (2.0 * half) / size;
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const out = new Float32Array(size * size);
  for (let i = 0; i < size; i++) {
    const v = (i + 0.5 - size / 2.0) * step;
    for (let j = 0; j < size; j++) {
      const u = (j + 0.5 - size / 2.0) * step;
      const x = Math.min(Math.max(cx + u * c - v * s, 0.0), w - 1.0);
      const y = Math.min(Math.max(cy + u * s + v * c, 0.0), h - 1.0);
      const xi = w > 1 ? Math.min(Math.trunc(x), w - 2) : 0;
      const yi = h > 1 ? Math.min(Math.trunc(y), h - 2) : 0;
      const fx = x - xi;
      const fy = y - yi;
      const x2 = Math.min(xi + 1, w - 1);
      const y2 = Math.min(yi + 1, h - 1);
      const top = img[yi * w + xi] * (1.0 - fx) + img[yi * w + x2] * fx;
      const bottom = img[y2 * w + xi] * (1.0 - fx) + img[y2 * w + x2] * fx;
      out[i * size + j] = top * (1.0 - fy) + bottom * fy;
    }
  }
  return out;
}

let dctCache = null;

/** _dct_rows: the first DCT_SIDE rows of the orthonormal DCT-II matrix of size PATCH. */
function dctRows() {
  if (dctCache) return dctCache;
  const m = new Float64Array(DCT_SIDE * PATCH);
  const norm = Math.sqrt(2.0 / PATCH);
  for (let k = 0; k < DCT_SIDE; k++) {
    for (let n = 0; n < PATCH; n++) {
      m[k * PATCH + n] = Math.cos((Math.PI * (2 * n + 1) * k) / (2 * PATCH)) * norm;
      if (k === 0) m[n] /= Math.sqrt(2.0);
    }
  }
  dctCache = m;
  return m;
}

/** A patch's 64-bit code as [low 32 bits, high 32 bits]: bit 8 v + u is coefficient (v, u) > 0. */
function patchCode(patch) {
  const d = dctRows();
  const t = new Float64Array(DCT_SIDE * PATCH); // dct @ patch
  for (let a = 0; a < DCT_SIDE; a++) {
    for (let j = 0; j < PATCH; j++) {
      let s = 0.0;
      for (let i = 0; i < PATCH; i++) s += d[a * PATCH + i] * patch[i * PATCH + j];
      t[a * PATCH + j] = s;
    }
  }
  const halves = [0, 0];
  for (let a = 0; a < DCT_SIDE; a++) {
    for (let b = 0; b < DCT_SIDE; b++) {
      if (a === 0 && b === 0) continue;
      let s = 0.0;
      for (let j = 0; j < PATCH; j++) s += t[a * PATCH + j] * d[b * PATCH + j];
      if (s > 0) {
        const bit = a * DCT_SIDE + b;
        halves[bit >> 5] |= 1 << (bit & 31);
      }
    }
  }
  return [halves[0] >>> 0, halves[1] >>> 0];
}

// ---------------------------------------------------------------------------------------------
// The whole picture

/** Every keypoint row of the working image (all octaves) and the octaves' Gaussian stacks. */
function scaleSpace(img, w, h) {
  if (!kernelsCache) kernelsCache = scaleKernels();
  const { first, steps } = kernelsCache;
  const rows = [];
  const octaves = [];
  let base = blur(img, w, h, first);
  for (let octave = 0; octave < MAX_OCTAVES; octave++) {
    if (Math.min(w, h) < MIN_OCTAVE_SIDE) break;
    const gauss = [base];
    for (let i = 1; i < steps.length; i++) gauss.push(blur(gauss[i - 1], w, h, steps[i]));
    const dog = [];
    for (let i = 1; i < gauss.length; i++) {
      const d = new Float32Array(w * h);
      const a = gauss[i];
      const b = gauss[i - 1];
      for (let p = 0; p < d.length; p++) d[p] = a[p] - b[p];
      dog.push(d);
    }
    extrema(dog, w, h, octave, rows);
    octaves.push({ gauss, w, h });
    // gauss[LEVELS_PER_OCTAVE][::2, ::2]
    const src = gauss[LEVELS_PER_OCTAVE];
    const w2 = (w + 1) >> 1;
    const h2 = (h + 1) >> 1;
    base = new Float32Array(w2 * h2);
    for (let y = 0; y < h2; y++) {
      for (let x = 0; x < w2; x++) base[y * w2 + x] = src[2 * y * w + 2 * x];
    }
    w = w2;
    h = h2;
  }
  return { rows, octaves };
}

/** Round half to even of a float32 value times a scale (numpy's round of a float32 product). */
function quantise(v, scale) {
  return roundHalfEven(f32(Math.min(Math.max(v, 0.0), 1.0) * scale));
}

/**
 * The keypoints of RGBA pixels (width x height), as keypoints(pixels, limit=..., base=...,
 * min_short=...) on the server: { count, x, y, scale, angle (Float32Array each), codes
 * (BigUint64Array), records (Uint8Array, 16 bytes each as Keypoints.to_bytes), hex (of the
 * records) }. The defaults are a banked photo's; UPLOAD gives an upload's (upload_keypoints).
 */
export function keypoints(rgba, width, height, options = {}) {
  const rows = keypointsOfRows(width, height, options);
  rows.addRows(rgba, 0, height);
  return rows.finish();
}

/** The settings of an upload's keypoints (the server's upload_keypoints). */
export const UPLOAD = Object.freeze({ limit: QUERY_LIMIT, base: QUERY_BASE, minShort: QUERY_MIN_SHORT });

/**
 * keypoints() of a picture whose RGBA rows arrive strip by strip: addRows(rgba, y0, count)
 * with every row once, top to bottom, then finish() -> what keypoints() returns.
 */
export function keypointsOfRows(
  width,
  height,
  { limit = BANK_LIMIT, base = BANK_BASE, minShort = null } = {},
) {
  const working = workingImageOfRows(width, height, workingSide(width, height, base, minShort));
  return {
    addRows: (rgba, y0, count) => working.addRows(rgba, y0, count),
    finish() {
      const { img, w, h } = working.finish();
      return keypointsOfWorkingImage(img, w, h, limit);
    },
  };
}

/** The keypoints of a working image (w x h float32 luminance), the `limit` strongest. */
function keypointsOfWorkingImage(img, w, h, limit) {
  const { rows, octaves } = scaleSpace(img, w, h);
  const xs = [];
  const ys = [];
  const ss = [];
  const angles = [];
  const codes = [];
  const longer = Math.max(w, h);
  for (const index of select(rows, limit)) {
    const r = rows[index];
    const [octave, level] = r;
    const { gauss, w: ow, h: oh } = octaves[octave];
    const g = gauss[level];
    const cy = r[4];
    const cx = r[5];
    const sigma = SIGMA0 * K ** r[6];
    const mult = 2.0 ** octave;
    for (const angle of orientations(g, ow, oh, cx, cy, sigma)) {
      const patch = samplePatch(g, ow, oh, cx, cy, PATCH_HALF * sigma, angle, PATCH);
      codes.push(patchCode(patch));
      xs.push((cx * mult) / longer);
      ys.push((cy * mult) / longer);
      ss.push((sigma * mult) / longer);
      angles.push(angle);
    }
  }
  return packed(xs, ys, ss, angles, codes);
}

function packed(xs, ys, ss, angles, codes) {
  const count = codes.length;
  const x = Float32Array.from(xs);
  const y = Float32Array.from(ys);
  const scale = Float32Array.from(ss);
  const angle = Float32Array.from(angles);
  const records = new Uint8Array(count * RECORD_BYTES);
  const view = new DataView(records.buffer);
  const big = new BigUint64Array(count);
  const pi32 = f32(Math.PI);
  const twoPi32 = f32(2 * Math.PI);
  for (let i = 0; i < count; i++) {
    const o = i * RECORD_BYTES;
    const [lo, hi] = codes[i];
    big[i] = (BigInt(hi) << 32n) | BigInt(lo);
    view.setUint32(o, lo, true);
    view.setUint32(o + 4, hi, true);
    view.setUint16(o + 8, quantise(x[i], 65535), true);
    view.setUint16(o + 10, quantise(y[i], 65535), true);
    view.setUint16(o + 12, quantise(scale[i], 65535), true);
    const turn = roundHalfEven(f32(f32(f32(angle[i] + pi32) / twoPi32) * 65536));
    view.setUint16(o + 14, mod(turn, 65536), true);
  }
  let hex = "";
  for (const b of records) hex += b.toString(16).padStart(2, "0");
  return { count, x, y, scale, angle, codes: big, records, hex };
}
