// PDQ in the browser: the same steps, in the same order and precision, as hashwall's fast mode
// (src/hashwall/hashing/fast.py and _pdq_kernels.py), which equals the reference C++ up to float
// rounding. Luminance, the Jarosz filter (two passes of box filters, i.e. one tent per axis)
// evaluated only at the 64 x 64 decimation points, quality from the gradients of that 64 x 64
// image, the 16 x 16 DCT, and the median threshold; the eight dihedral hashes come from sign
// flips and transposes of the one DCT.
//
// Pixels arrive in horizontal strips (PdqAccumulator.addRows): each row is reduced to 64 column
// samples as it passes. A picture decoded reduced (a big JPEG) is hashed with the geometry of its
// full size (tentWeightsReduced), as the server's fast mode does.

const OUT = 64; // the decimated image is 64 x 64
const DCT = 16; // the hash keeps the 16 x 16 lowest non-DC DCT coefficients
export const MIN_HASHABLE_DIM = 5; // the reference answers an all-zero hash of quality 0 below
export const MIN_QUALITY = 50; // below this a PDQ hash is too featureless to bank or match on

/** Orientation names, in the order of pdqhash.compute_dihedral (hashwall's Orientation). */
export const ORIENTATIONS = [
  "original", "rotate90", "rotate180", "rotate270",
  "flip_x", "flip_y", "flip_plus1", "flip_minus1",
];

const f32 = Math.fround;

/** decimateFloat: the 64 sample positions along an axis of n pixels, at cell centres. */
function decimationIndices(n) {
  const idx = new Int32Array(OUT);
  for (let o = 0; o < OUT; o++) idx[o] = Math.trunc(((o + 0.5) * n) / OUT);
  return idx;
}

/**
 * The Jarosz filter along one axis of n pixels, at the 64 decimation points (tent_weights):
 * sample o is sum_k weights[o * span + k] * x[start[o] + k].
 */
export function tentWeights(n) {
  const window = Math.trunc((n + 2 * OUT - 1) / (2 * OUT));
  const half = Math.trunc((window + 2) / 2);
  const back = window - half; // a box output o averages x[o - back .. o + half - 1], clipped
  const fwd = half - 1;
  const idx = decimationIndices(n);
  const span = 2 * (back + fwd) + 1;
  const start = new Int32Array(OUT);
  const weights = new Float64Array(OUT * span);
  for (let o = 0; o < OUT; o++) {
    const c = idx[o];
    const first = Math.max(0, c - back - back);
    start[o] = first;
    const mLo = Math.max(0, c - back);
    const mHi = Math.min(n - 1, c + fwd);
    const outer = 1.0 / (mHi - mLo + 1);
    for (let m = mLo; m <= mHi; m++) {
      const kLo = Math.max(0, m - back);
      const kHi = Math.min(n - 1, m + fwd);
      const inner = outer / (kHi - kLo + 1);
      for (let k = kLo; k <= kHi; k++) weights[o * span + (k - first)] += inner;
    }
  }
  return { start, weights, span };
}

/**
 * tentWeights of the full-resolution axis (nFull pixels) carried over to the same axis decoded
 * reduced to nReduced pixels (tent_weights_reduced): each full-resolution tap's weight moves to
 * the reduced pixel(s) covering it, so the reference's sample positions and window sizes stay.
 * A reduced pixel stands for a block of s full pixels when nReduced = ceil(nFull / s), s in
 * 2, 4, 8 (libjpeg's scaled decode, the last block clipped), else a span of nFull / nReduced.
 */
export function tentWeightsReduced(nFull, nReduced) {
  if (nFull === nReduced) return tentWeights(nFull);
  const full = tentWeights(nFull);
  let step = nFull / nReduced;
  for (const s of [2, 4, 8]) {
    if (Math.trunc((nFull + s - 1) / s) === nReduced) {
      step = s;
      break;
    }
  }
  const taps = full.span;
  const span = Math.ceil(taps / step) + 2;
  const start = new Int32Array(OUT);
  const weights = new Float64Array(OUT * span);
  for (let o = 0; o < OUT; o++) {
    const first = Math.min(Math.trunc(full.start[o] / step), nReduced - 1);
    start[o] = first;
    for (let t = 0; t < taps; t++) {
      const wt = full.weights[o * taps + t];
      if (wt === 0.0) continue;
      const k = full.start[o] + t;
      let p = Math.min(Math.trunc(k / step), nReduced - 1);
      let lo = k;
      while (lo < k + 1.0) {
        let hi;
        if (p >= nReduced - 1) {
          p = nReduced - 1; // the last reduced pixel takes what is left
          hi = k + 1.0;
        } else {
          hi = Math.min(k + 1.0, (p + 1) * step);
        }
        if (hi > lo) {
          weights[o * span + (p - first)] += wt * (hi - lo);
          lo = hi;
        }
        p += 1;
      }
    }
  }
  return { start, weights, span };
}

/** The 16 x 64 DCT-II matrix of pdqhashing.cpp, rounded to float32 the same way. */
function dctMatrix() {
  const scale = f32(Math.sqrt(2.0 / 64.0));
  const d = new Float32Array(DCT * OUT);
  for (let i = 1; i <= DCT; i++) {
    for (let j = 0; j < OUT; j++) {
      d[(i - 1) * OUT + j] = scale * Math.cos((Math.PI / 2.0 / 64.0) * i * (2.0 * j + 1.0));
    }
  }
  return d;
}
const DCT_MATRIX = dctMatrix();

/** pdqImageDomainQualityMetric: quantised gradients of the 64 x 64 image, / 90, capped at 100. */
export function qualityMetric(a) {
  let total = 0;
  for (let i = 0; i < OUT - 1; i++) {
    for (let j = 0; j < OUT; j++) {
      total += Math.abs(Math.trunc(f32(f32(f32(a[i * OUT + j] - a[(i + 1) * OUT + j]) * 100) / 255)));
    }
  }
  for (let i = 0; i < OUT; i++) {
    for (let j = 0; j < OUT - 1; j++) {
      total += Math.abs(Math.trunc(f32(f32(f32(a[i * OUT + j] - a[i * OUT + j + 1]) * 100) / 255)));
    }
  }
  return Math.min(Math.trunc(total / 90), 100);
}

/** dct64To16: B = D A D^T in float32, each dot product accumulated in increasing k. */
function dct64To16(a) {
  const d = DCT_MATRIX;
  const t = new Float32Array(DCT * OUT);
  for (let i = 0; i < DCT; i++) {
    for (let k = 0; k < OUT; k++) {
      const dik = d[i * OUT + k];
      for (let j = 0; j < OUT; j++) t[i * OUT + j] = f32(t[i * OUT + j] + f32(dik * a[k * OUT + j]));
    }
  }
  const b = new Float32Array(DCT * DCT);
  for (let i = 0; i < DCT; i++) {
    for (let j = 0; j < DCT; j++) {
      let s = 0;
      for (let k = 0; k < OUT; k++) s = f32(s + f32(t[i * OUT + k] * d[j * OUT + k]));
      b[i * DCT + j] = s;
    }
  }
  return b;
}

/** The DCT of each of the eight orientations, by sign flips and transposes (dct16OriginalTo*). */
function dihedralDcts(b) {
  const out = Array.from({ length: 8 }, () => new Float32Array(DCT * DCT));
  for (let i = 0; i < DCT; i++) {
    for (let j = 0; j < DCT; j++) {
      const v = b[i * DCT + j];
      const ij = i * DCT + j;
      const ji = j * DCT + i;
      out[0][ij] = v;
      out[1][ji] = j & 1 ? v : -v; // rotate90
      out[2][ij] = (i + j) & 1 ? -v : v; // rotate180
      out[3][ji] = i & 1 ? v : -v; // rotate270
      out[4][ij] = i & 1 ? v : -v; // flip_x
      out[5][ij] = j & 1 ? v : -v; // flip_y
      out[6][ji] = v; // flip_plus1 (transpose)
      out[7][ji] = (i + j) & 1 ? -v : v; // flip_minus1 (transverse)
    }
  }
  return out;
}

/**
 * pdqBuffer16x16ToBits, as 64 hex digits: coefficient k is set where it exceeds the median (the
 * 128th smallest of 256) and weighs 2^k, most significant digit first (Hash256::format order).
 */
export function medianThresholdHex(b) {
  const med = Float32Array.from(b).sort()[127];
  let hex = "";
  for (let q = 0; q < 64; q++) {
    const top = 255 - 4 * q;
    let nibble = 0;
    for (let s = 0; s < 4; s++) nibble = (nibble << 1) | (b[top - s] > med ? 1 : 0);
    hex += nibble.toString(16);
  }
  return hex;
}

/** The hash(es) and quality of a 64 x 64 float32 image (hash_bits). */
export function hashFrom64x64(a, dihedral) {
  const quality = qualityMetric(a);
  const b = dct64To16(a);
  if (!dihedral) return { hash: medianThresholdHex(b), quality, orientations: null };
  const orientations = dihedralDcts(b).map(medianThresholdHex);
  return { hash: orientations[0], quality, orientations };
}

/**
 * Feeds PDQ one strip of RGBA rows at a time (top to bottom) and hashes at the end.
 * Alpha is ignored: the caller composites transparency on white first, as the server does.
 */
export class PdqAccumulator {
  /**
   * fullWidth x fullHeight is the picture's full size when the pixels (width x height) were
   * decoded reduced: the filter then keeps the full-resolution geometry, as pdq_fast's full_size.
   */
  constructor(width, height, fullWidth = width, fullHeight = height) {
    this.width = width;
    this.height = height;
    this.empty = Math.min(width, height, fullWidth, fullHeight) < MIN_HASHABLE_DIM;
    if (this.empty) return;
    this.rows = tentWeightsReduced(fullHeight, height);
    this.cols = tentWeightsReduced(fullWidth, width);
    this.rLo = this.rows.start[0];
    this.rHi = Math.min(height, this.rows.start[OUT - 1] + this.rows.span);
    this.samples = new Float64Array((this.rHi - this.rLo) * OUT); // each needed row, at 64 columns
    this.line = new Float64Array(width);
  }

  /** The rows this hash reads: a caller may skip decoding the others. */
  get neededRows() {
    return this.empty ? [0, 0] : [this.rLo, this.rHi];
  }

  /** Rows y0 .. y0 + count - 1, as RGBA bytes (count * width * 4). */
  addRows(rgba, y0, count) {
    if (this.empty) return;
    const { width: w, line } = this;
    const { start, weights, span } = this.cols;
    for (let r = 0; r < count; r++) {
      const y = y0 + r;
      if (y < this.rLo || y >= this.rHi) continue;
      let p = r * w * 4;
      for (let x = 0; x < w; x++, p += 4) {
        line[x] = rgba[p] * 0.299 + rgba[p + 1] * 0.587 + rgba[p + 2] * 0.114;
      }
      const base = (y - this.rLo) * OUT;
      for (let j = 0; j < OUT; j++) {
        const s0 = start[j];
        const taps = Math.min(span, w - s0);
        let acc = 0.0;
        for (let k = 0; k < taps; k++) acc += weights[j * span + k] * line[s0 + k];
        this.samples[base + j] = acc;
      }
    }
  }

  /** The PDQ hash (64 hex), its quality, and the 8 orientations' hashes when asked. */
  finish(dihedral = false) {
    if (this.empty) {
      const zero = "0".repeat(64);
      return { hash: zero, quality: 0, orientations: dihedral ? Array(8).fill(zero) : null };
    }
    const { start, weights, span } = this.rows;
    const nrows = this.rHi - this.rLo;
    const a = new Float32Array(OUT * OUT);
    for (let i = 0; i < OUT; i++) {
      const s0 = start[i] - this.rLo;
      const taps = Math.min(span, nrows - s0);
      for (let j = 0; j < OUT; j++) {
        let acc = 0.0;
        for (let k = 0; k < taps; k++) acc += weights[i * span + k] * this.samples[(s0 + k) * OUT + j];
        a[i * OUT + j] = acc;
      }
    }
    return hashFrom64x64(a, dihedral);
  }
}

/** PDQ of a whole RGBA image in memory (tests, small images). */
export function pdqOfRgba(rgba, width, height, dihedral = false) {
  const acc = new PdqAccumulator(width, height);
  acc.addRows(rgba, 0, height);
  return acc.finish(dihedral);
}
