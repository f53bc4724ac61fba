// The hashing worker: one photo in (a File), its signals out, progress on the way. The photo's
// bytes and pixels stay inside this worker; only hex digests and a quality leave it.
//
// For a video (hashing/video.js, on the page, draws its frames) the worker answers two more
// messages: { id, file, digests: true } -> the file signals only, and { id, frame: { width,
// height, pixels | yuv } } (one frame's RGBA bytes, or its decoded planes, transferred) -> that
// frame's PDQ and quality.
//
// A photo's message says which keypoints it wants: { keypoints: "bank" } (the default: a photo
// reported, the server's keypoints()) or "upload" (a check, the server's upload_keypoints()).
//
// Signal types are modules: a file signal has fromBytes(bytes); a pixel signal has
// begin(width, height, options) -> { neededRows, addRows, finish -> { signal (or null) } }.
// Adding one is one import here.
import { jpegSize } from "./jpeg-header.js";
import * as keypoints from "./signal-keypoints.js";
import * as md5 from "./signal-md5.js";
import { pdqOfRgba } from "./pdq.js";
import * as pdq from "./signal-pdq.js";
import * as sha256 from "./signal-sha256.js";
import { rgbaFromYuv } from "./yuv.js";

const FILE_SIGNALS = [md5, sha256];
const PIXEL_SIGNALS = [pdq, keypoints];
const STRIP_ROWS = 256; // rows copied out of the decoded picture at a time
const MAX_PIXELS = 100_000_000; // the server's limit (max_pixels); a phone may run out before
const MIN_SIDE = 16; // the server's limit (min_side): smaller pictures are not fingerprinted
// JPEGs above this many pixels are decoded reduced. 12 MP (48 MB decoded) is what most phones
// save by default, which they decode anyway to show it; the 48-200 MP modes (192-800 MB) are
// what would exhaust a tab. Under it, photos keep the full-size decode (the reference's pixels).
const REDUCE_ABOVE_PIXELS = 12_000_000;
const DRAFT_MIN_SIDE = 192; // the server's FAST_DRAFT_MIN_SIDE (hashwall/hashing/fast.py)
// Progress: the file signals up to 0.1, the strips of pixels up to 0.6, then the pixel signals'
// own work (the keypoints' scale space is most of it).
const READ_SHARE = 0.1;
const STRIPS_SHARE = 0.5;

class HashingError extends Error {
  constructor(code) {
    super(code);
    this.code = code;
  }
}

/** "heic" for HEIC/HEIF files (ISO-BMFF brands), which browsers mostly cannot decode. */
function container(bytes) {
  const head = new Uint8Array(bytes, 0, Math.min(bytes.byteLength, 16));
  const text = String.fromCharCode(...head);
  if (text.slice(4, 8) === "ftyp" && /^(heic|heix|hevc|hevx|heim|heis|mif1|msf1)$/.test(text.slice(8, 12))) {
    return "heic";
  }
  return "other";
}

/** The strongest reduction (8, 4, 2 or 1) keeping both sides >= DRAFT_MIN_SIDE (_draft_scale). */
function draftScale(width, height) {
  for (const s of [8, 4, 2]) {
    if (Math.ceil(width / s) >= DRAFT_MIN_SIDE && Math.ceil(height / s) >= DRAFT_MIN_SIDE) return s;
  }
  return 1;
}

/**
 * The decode size for a picture of full size `size` (upright, from its header), or null for a
 * full-size decode: big JPEGs decode at 1/2, 1/4 or 1/8, the reduction the server's fast mode
 * picks, so the full-size picture never exists in this tab.
 */
function reducedSize(size) {
  if (!size || size.width * size.height <= REDUCE_ABOVE_PIXELS) return null;
  const s = draftScale(size.width, size.height);
  return s > 1 ? { width: Math.ceil(size.width / s), height: Math.ceil(size.height / s) } : null;
}

/** Every file signal of the file's bytes (an ArrayBuffer). */
async function fileSignals(bytes) {
  const signals = [];
  for (const s of FILE_SIGNALS) signals.push(await s.fromBytes(bytes));
  return signals;
}

async function decode(file, bytes, reduced) {
  const options = { imageOrientation: "from-image", colorSpaceConversion: "none", premultiplyAlpha: "none" };
  // Sizes are of the upright picture; Chromium's JPEG decoder then decodes to scale.
  if (reduced) Object.assign(options, { resizeWidth: reduced.width, resizeHeight: reduced.height });
  try {
    return await createImageBitmap(file, options);
  } catch {
    throw new HashingError(container(bytes) === "heic" ? "heic" : "undecodable");
  }
}

async function hashOne(id, file, orientations, keypointsFor) {
  const progress = (fraction) => postMessage({ id, progress: fraction });
  const bytes = await file.arrayBuffer();
  const signals = await fileSignals(bytes);
  progress(READ_SHARE);
  const header = jpegSize(bytes);
  if (header && header.width * header.height > MAX_PIXELS) throw new HashingError("too_large");
  const reduced = reducedSize(header);
  const bitmap = await decode(file, bytes, reduced);
  // width x height: the picture's full size; the pixels are decoded x its size.
  const decoded = { width: bitmap.width, height: bitmap.height };
  const { width, height } = reduced ? header : decoded;
  if (width * height > MAX_PIXELS) {
    bitmap.close();
    throw new HashingError("too_large");
  }
  if (Math.min(width, height) < MIN_SIDE) {
    bitmap.close();
    throw new HashingError("too_small");
  }
  const hashers = PIXEL_SIGNALS.map((s) =>
    s.begin(decoded.width, decoded.height, {
      orientations,
      fullWidth: width,
      fullHeight: height,
      keypoints: keypointsFor,
    }),
  );
  const first = Math.min(...hashers.map((h) => h.neededRows[0]));
  const last = Math.max(...hashers.map((h) => h.neededRows[1]));
  if (last > first) {
    const w = decoded.width;
    const canvas = new OffscreenCanvas(w, Math.min(STRIP_ROWS, last - first));
    const ctx = canvas.getContext("2d", { willReadFrequently: true, alpha: false });
    ctx.imageSmoothingEnabled = false;
    for (let y0 = first; y0 < last; y0 += STRIP_ROWS) {
      const rows = Math.min(STRIP_ROWS, last - y0);
      // Transparent pixels become white, as on the server (hashwall.media.modes).
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, w, rows);
      ctx.drawImage(bitmap, 0, y0, w, rows, 0, 0, w, rows);
      const rgba = ctx.getImageData(0, 0, w, rows).data;
      for (const h of hashers) h.addRows(rgba, y0, rows);
      progress(READ_SHARE + (STRIPS_SHARE * (y0 + rows - first)) / (last - first));
    }
  }
  bitmap.close();
  // decoded: the size of the pixels hashed (smaller than width x height for a big JPEG).
  const result = { width, height, decoded, quality: null, usable: true, orientations: null };
  const pixelSignals = [];
  const done = READ_SHARE + STRIPS_SHARE;
  for (const [i, h] of hashers.entries()) {
    const out = h.finish();
    progress(done + ((1 - done) * (i + 1)) / hashers.length);
    if (out.signal) pixelSignals.push(out.signal);
    if (out.signal?.type === "pdq") {
      Object.assign(result, { quality: out.quality, usable: out.usable, orientations: out.orientations });
    }
  }
  // The pixel signals first (pdq, then keypoints), then the file signals.
  return { ...result, signals: [...pixelSignals, ...signals] };
}

/** The file signals (md5, sha256) of a video, whose frames come one by one after. */
async function digests(file) {
  return { signals: await fileSignals(await file.arrayBuffer()) };
}

/** The PDQ hash and quality of one video frame: RGBA bytes drawn by a canvas (`pixels`), or the
 *  decoder's planes (`yuv`, converted as the server converts). A video has no alpha. */
function hashFrame({ pixels, yuv, width, height }) {
  const rgba = yuv ? rgbaFromYuv({ ...yuv, width, height }) : new Uint8ClampedArray(pixels);
  const r = pdqOfRgba(rgba, width, height);
  return { pdq: r.hash, quality: r.quality };
}

async function answer({
  id,
  file,
  orientations = false,
  keypoints: keypointsFor = "bank",
  digests: fileOnly = false,
  frame = null,
}) {
  if (frame) return hashFrame(frame);
  if (fileOnly) return digests(file);
  return hashOne(id, file, orientations, keypointsFor);
}

self.onmessage = async (event) => {
  const { id } = event.data;
  try {
    postMessage({ id, done: true, result: await answer(event.data) });
  } catch (err) {
    postMessage({ id, done: true, error: err instanceof HashingError ? err.code : "undecodable" });
  }
};
