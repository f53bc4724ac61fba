// The hashing worker: one photo in (a File), its signals out, progress on the way. The photo's
// bytes and pixels stay inside this worker; only hex digests and a quality leave it.
//
// Signal types are modules: a file signal has fromBytes(bytes); a pixel signal has
// begin(width, height) -> { neededRows, addRows, finish }. Adding one is one import here.
import * as md5 from "./signal-md5.js";
import * as pdq from "./signal-pdq.js";
import * as sha256 from "./signal-sha256.js";

const FILE_SIGNALS = [md5, sha256];
const PIXEL_SIGNALS = [pdq];
const STRIP_ROWS = 256; // rows copied out of the decoded picture at a time
const MAX_PIXELS = 100_000_000; // the server's limit (max_pixels); a phone may run out before
const MIN_SIDE = 16; // the server's limit (min_side): smaller pictures are not fingerprinted

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

async function decode(file, bytes) {
  try {
    return await createImageBitmap(file, {
      imageOrientation: "from-image",
      colorSpaceConversion: "none",
      premultiplyAlpha: "none",
    });
  } catch {
    throw new HashingError(container(bytes) === "heic" ? "heic" : "undecodable");
  }
}

async function hashOne(id, file, orientations) {
  const progress = (fraction) => postMessage({ id, progress: fraction });
  const bytes = await file.arrayBuffer();
  const signals = [];
  for (const s of FILE_SIGNALS) signals.push(await s.fromBytes(bytes));
  progress(0.1);
  const bitmap = await decode(file, bytes);
  const { width, height } = bitmap;
  if (width * height > MAX_PIXELS) {
    bitmap.close();
    throw new HashingError("too_large");
  }
  if (Math.min(width, height) < MIN_SIDE) {
    bitmap.close();
    throw new HashingError("too_small");
  }
  const hashers = PIXEL_SIGNALS.map((s) => s.begin(width, height, { orientations }));
  const first = Math.min(...hashers.map((h) => h.neededRows[0]));
  const last = Math.max(...hashers.map((h) => h.neededRows[1]));
  if (last > first) {
    const canvas = new OffscreenCanvas(width, Math.min(STRIP_ROWS, last - first));
    const ctx = canvas.getContext("2d", { willReadFrequently: true, alpha: false });
    ctx.imageSmoothingEnabled = false;
    for (let y0 = first; y0 < last; y0 += STRIP_ROWS) {
      const rows = Math.min(STRIP_ROWS, last - y0);
      // Transparent pixels become white, as on the server (hashwall.media.modes).
      ctx.fillStyle = "#fff";
      ctx.fillRect(0, 0, width, rows);
      ctx.drawImage(bitmap, 0, y0, width, rows, 0, 0, width, rows);
      const rgba = ctx.getImageData(0, 0, width, rows).data;
      for (const h of hashers) h.addRows(rgba, y0, rows);
      progress(0.1 + (0.85 * (y0 + rows - first)) / (last - first));
    }
  }
  bitmap.close();
  const result = { width, height, quality: null, usable: true, orientations: null };
  for (const h of hashers) {
    const out = h.finish();
    signals.unshift(out.signal);
    if (out.signal.type === "pdq") {
      Object.assign(result, { quality: out.quality, usable: out.usable, orientations: out.orientations });
    }
  }
  return { ...result, signals };
}

self.onmessage = async (event) => {
  const { id, file, orientations = false } = event.data;
  try {
    postMessage({ id, done: true, result: await hashOne(id, file, orientations) });
  } catch (err) {
    postMessage({ id, done: true, error: err instanceof HashingError ? err.code : "undecodable" });
  }
};
