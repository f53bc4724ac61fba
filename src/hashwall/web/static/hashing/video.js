// A video hashed on this device, as the server's vPDQ does (hashwall/hashing/vpdq.py): one frame
// per second hashed with PDQ at the video's own size, frames of quality under 50 dropped, runs of
// identical consecutive hashes kept once. Runs on the page, not in the worker (a worker has no
// <video>): the file plays in a <video> element that is never in the document, from an object
// URL (the bytes are never uploaded). Each sampled frame goes to the hashing worker (worker.js),
// which answers its PDQ and quality: as the decoder's Y'CbCr planes where WebCodecs gives them
// (VideoFrame.copyTo; the worker converts them with BT601 as the server does, yuv.js), else as
// the RGBA pixels of a canvas it was drawn on at its displayed size.
//
// What a browser can know of a video: its duration (of the longest track), its displayed size
// (rotation applied) and the frame shown at a time it seeks to, with that frame's own timestamp
// where WebCodecs exists; not its frame rate, frame count or codec. The frame rate is measured:
// the video plays (muted, unseen) for a few frames and requestVideoFrameCallback reports each
// presented frame's media time; the shortest gap between two of them is one frame. With it, the
// page samples the server's frames: frame n = k * int(fps) (vPDQ's frameMod), seeked at the
// middle of its display time, timestamp n / fps. If it cannot be measured (no
// requestVideoFrameCallback, or no frame came in time), the page seeks t = 0, 1, 2, ... s and
// estimates frame numbers at ASSUMED_FPS.
//
// A still video (a photo shown for a few seconds, a clip too short to match as a video: its kept
// frames form fewer scenes than the video rule needs, video_scenes.py) is also sent as the photo
// it shows, as the server's hash_video does: its best frame's PDQ as a `pdq` signal, which
// matches that photo and its re-encodes where no video rule can.
import { MIN_QUALITY } from "./pdq.js";

export const MAX_SECONDS = 30 * 60; // longer videos: a clear message (an hour is 3,600 seeks)
export const MAX_PIXELS = 7680 * 4320; // the server's video_max_pixels (8K UHD)
export const DIGEST_MAX_BYTES = 256 * 1024 * 1024; // md5/sha256 read the whole file into memory
export const SECONDS_PER_HASH = 1; // the server's vpdq_seconds_per_hash
export const ASSUMED_FPS = 30; // frame numbers when the frame rate could not be measured
export const DISTINCT_BITS = 16; // a new scene: this far from its key frame (DEFAULT_DISTINCT_BITS)
export const MIN_SCENES = 3; // fewer scenes cannot match as a video: a still (DEFAULT_MIN_FRAMES)
const LOAD_TIMEOUT_MS = 20_000; // metadata, a seek, or the frame-rate measurement
const FRAME_WAIT_MS = 1_000; // after a seek, for the new frame to be shown
const IN_FLIGHT = 3; // frames drawn but not yet hashed, at most (each is width * height * 4 bytes)
const VIDEO_TYPES = /^video\//;
const VIDEO_NAMES = /\.(mp4|m4v|mov|webm|mkv|ogv|avi|3gp)$/i;

/** A video that cannot be hashed here: `code` names the reason (a strings key: status_<code>). */
export class VideoError extends Error {
  constructor(code) {
    super(code);
    this.code = code;
  }
}

/** True for a file the page should hash as a video (by its type or, when the type is blank,
 *  its name). */
export function isVideo(file) {
  return VIDEO_TYPES.test(file.type) || (!file.type && VIDEO_NAMES.test(file.name));
}

/** "hevc" when an MP4/MOV names an HEVC (H.265) track in its first or last MB (the moov box is at
 *  one end), which most browsers cannot decode; else "other". */
async function sniffCodec(file) {
  const MB = 1024 * 1024;
  const parts = [file.slice(0, MB), file.slice(Math.max(0, file.size - MB))];
  for (const part of parts) {
    const text = new TextDecoder("latin1").decode(await part.arrayBuffer());
    if (/ftyp/.test(text.slice(0, 16)) || /moov/.test(text)) {
      if (/hvc1|hev1|dvh1|dvhe/.test(text)) return "hevc";
    }
  }
  return "other";
}

/** Resolves on `ok` from `target`; rejects with VideoError(failCode) on "error", or
 *  VideoError("video_timeout") after `ms`. `start` runs once the listeners are set. */
function waitFor(target, ok, start, failCode, ms = LOAD_TIMEOUT_MS) {
  return new Promise((resolve, reject) => {
    const finish = (fn, value) => {
      clearTimeout(timer);
      target.removeEventListener(ok, onOk);
      target.removeEventListener("error", onError);
      fn(value);
    };
    const onOk = () => finish(resolve);
    const onError = () => finish(reject, new VideoError(failCode));
    const timer = setTimeout(() => finish(reject, new VideoError("video_timeout")), ms);
    target.addEventListener(ok, onOk);
    target.addEventListener("error", onError);
    start();
  });
}

/** Seek to `t` and wait until the frame there is shown: "seeked" can come while the element
 *  still shows the frame before (measured: 3 of 200 seeks under load), so the presentation of a
 *  new frame (requestVideoFrameCallback) is awaited too, for at most FRAME_WAIT_MS (a still
 *  video may show the same frame: then none comes). */
async function seekTo(video, t) {
  let presented = Promise.resolve();
  let handle = 0;
  if ("requestVideoFrameCallback" in video) {
    presented = new Promise((resolve) => {
      handle = video.requestVideoFrameCallback(() => resolve());
      setTimeout(resolve, FRAME_WAIT_MS);
    });
  }
  await waitFor(video, "seeked", () => (video.currentTime = t), "video_undecodable");
  await presented;
  if (handle) video.cancelVideoFrameCallback(handle);
}

/** The <video> of `url`, its metadata loaded and its duration known; never in the document. */
async function openVideo(file, url) {
  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.preload = "auto";
  const undecodable = async () => new VideoError((await sniffCodec(file)) === "hevc" ? "video_hevc" : "video_undecodable");
  try {
    await waitFor(video, "loadeddata", () => (video.src = url), "video_undecodable");
  } catch (err) {
    throw err.code === "video_undecodable" ? await undecodable() : err;
  }
  // Audio alone, or a video track this browser cannot decode beside a playable audio track.
  if (!video.videoWidth || !video.videoHeight) throw await undecodable();
  if (!Number.isFinite(video.duration)) {
    // A recording without a duration in its header (MediaRecorder's WebM): seeking far past the
    // end makes the browser read to the end and learn it.
    await waitFor(video, "seeked", () => (video.currentTime = 1e101), "video_undecodable");
  }
  if (!(video.duration > 0) || !Number.isFinite(video.duration)) throw await undecodable();
  return video;
}

/** A measured frame rate snapped to the usual ones (24, 25, 30, 30000/1001, ...), or null. */
export function snapFps(gap) {
  if (!(gap > 0)) return null;
  const fps = 1 / gap;
  // The nearest of the whole rates and the NTSC ones (N * 1000 / 1001) around it, if within
  // 0.05% (media times come in microseconds: 29.97 and 30 are 0.1% apart).
  let best = null;
  for (const whole of [Math.round(fps), Math.round(fps * 1.001)]) {
    for (const rate of [whole, (whole * 1000) / 1001]) {
      const off = Math.abs(fps - rate) / rate;
      if (off <= 0.0005 && (best === null || off < best.off)) best = { rate, off };
    }
  }
  return best ? best.rate : Math.round(fps * 1000) / 1000;
}

/** The frame rate, from the media times of a few frames played from the start; null if the
 *  browser cannot say (no requestVideoFrameCallback, or too few frames within the time). */
async function measureFps(video) {
  if (!("requestVideoFrameCallback" in video)) return null;
  const times = [];
  let handle = 0;
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, LOAD_TIMEOUT_MS / 4);
    const onFrame = (now, meta) => {
      times.push(meta.mediaTime);
      if (times.length >= 8) {
        clearTimeout(timer);
        resolve();
      } else {
        handle = video.requestVideoFrameCallback(onFrame);
      }
    };
    handle = video.requestVideoFrameCallback(onFrame);
    video.play().catch(() => {
      clearTimeout(timer);
      resolve();
    });
  });
  video.cancelVideoFrameCallback(handle); // the seeks that follow present frames too
  video.pause();
  // Under load the player drops frames: the shortest gap between presented frames is one frame.
  let gap = Infinity;
  for (let i = 1; i < times.length; i++) {
    const d = times[i] - times[i - 1];
    if (d > 1e-4 && d < gap) gap = d;
  }
  return Number.isFinite(gap) ? snapFps(gap) : null;
}

/** The frames to hash: [{ t (seconds to seek to), frame, timestamp }], as vPDQ samples them. */
export function samplePlan(duration, fps) {
  const plan = [];
  if (fps) {
    const frames = Math.max(1, Math.round(duration * fps));
    const mod = Math.max(1, Math.trunc(SECONDS_PER_HASH * fps)); // frame_mod
    for (let n = 0; n < frames; n += mod) {
      // The middle of frame n's display time: a seek there shows frame n, whatever the rounding
      // of the container's timestamps.
      const t = Math.min((n + 0.5) / fps, duration);
      plan.push({ t, frame: n, timestamp: Math.round((n / fps) * 1000) / 1000 });
    }
  } else {
    for (let t = 0; t < duration; t += SECONDS_PER_HASH) {
      plan.push({ t, frame: Math.round(t * ASSUMED_FPS), timestamp: t });
    }
  }
  return plan;
}

/** The kept frames: quality >= MIN_QUALITY, then runs of identical consecutive hashes kept once
 *  (vpdq.quality_filter and collapse_runs). */
export function keptFrames(frames) {
  const out = [];
  let previous = null;
  for (const f of frames) {
    if (f.quality < MIN_QUALITY) continue;
    if (f.pdq !== previous) out.push(f);
    previous = f.pdq;
  }
  return out;
}

const NIBBLE_BITS = [0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4];

/** The number of bits that differ between two hex hashes of the same length. */
export function hexDistance(a, b) {
  let bits = 0;
  for (let i = 0; i < a.length; i++) bits += NIBBLE_BITS[parseInt(a[i], 16) ^ parseInt(b[i], 16)];
  return bits;
}

/** Indexes of the key frames of hex hashes in time order: each frame more than `distinctBits`
 *  from the key frame before it starts a scene, the first always (video_scenes.scene_starts). */
export function sceneStarts(hashes, distinctBits = DISTINCT_BITS) {
  const keys = [];
  let last = null;
  hashes.forEach((h, i) => {
    if (last === null || hexDistance(h, last) > distinctBits) {
      keys.push(i);
      last = h;
    }
  });
  return keys;
}

/** A still video's picture, as an image's PDQ signal ({ type, value, quality }): when the kept
 *  frames form 1 or 2 scenes, the frame of `hashed` (every frame hashed, in order) of the best
 *  quality >= MIN_QUALITY, the first of equals; else null (vpdq.is_still and hash_video). */
export function stillPicture(hashed, kept) {
  const scenes = sceneStarts(kept.map((f) => f.pdq)).length;
  if (scenes === 0 || scenes >= MIN_SCENES) return null;
  let best = null;
  for (const f of hashed) {
    if (f.quality >= MIN_QUALITY && (best === null || f.quality > best.quality)) best = f;
  }
  return best && { type: "pdq", value: best.pdq, quality: best.quality };
}

/**
 * The frame shown, as the decoder output it (WebCodecs: a VideoFrame of the <video>): its media
 * time in seconds (null if unknown) and, for 8-bit 4:2:0 (I420, NV12) with no rotation to apply,
 * its planes ({ yuv, width, height }, copyTo); else planes null.
 */
async function shownFrame(video) {
  if (typeof VideoFrame !== "function") return { time: null, planes: null };
  let frame;
  try {
    frame = new VideoFrame(video);
  } catch {
    return { time: null, planes: null };
  }
  const time = frame.timestamp / 1e6;
  try {
    const { format, visibleRect: rect } = frame;
    const upright = !frame.rotation && !frame.flip;
    // A phone's portrait video is stored sideways, and some have non-square pixels: the canvas
    // draws those upright and at their display size.
    const plain = upright && rect.width === frame.displayWidth && rect.height === frame.displayHeight;
    if ((format !== "I420" && format !== "NV12") || !plain) return { time, planes: null };
    const data = new Uint8Array(frame.allocationSize());
    const layout = await frame.copyTo(data);
    const fullRange = frame.colorSpace?.fullRange === true;
    const yuv = { data: data.buffer, layout, format, fullRange };
    return { time, planes: { yuv, width: rect.width, height: rect.height } };
  } catch {
    return { time, planes: null };
  } finally {
    frame.close();
  }
}

/** True when a sample in the last second shows an earlier frame than planned: the video track
 *  ended before the file's duration (an audio track runs on), and the browser shows its last
 *  frame, which vPDQ does not hash (its number is not a multiple of frame_mod). */
function pastTheEnd(sample, time, fps, duration) {
  if (!fps || time === null || sample.t <= duration - SECONDS_PER_HASH) return false;
  return Math.round(time * fps) < sample.frame;
}

/** The frame shown, drawn on the canvas: { pixels (RGBA bytes), width, height }. */
function drawn(video, ctx, width, height) {
  ctx.drawImage(video, 0, 0, width, height);
  return { pixels: ctx.getImageData(0, 0, width, height).data.buffer, width, height };
}

/** Messages to a worker and their answers, by id; a worker that fails (could not load, ran out
 *  of memory) fails every question, asked before or after. */
function asker(worker) {
  const pending = new Map();
  let failed = false;
  let next = 1;
  worker.onmessage = (event) => {
    const { id, done, result, error } = event.data;
    const p = pending.get(id);
    if (!done || !p) return;
    pending.delete(id);
    if (error) p.reject(new VideoError(`video_${error}`));
    else p.resolve(result);
  };
  worker.onerror = (event) => {
    event.preventDefault();
    failed = true;
    for (const { reject } of pending.values()) reject(new VideoError("video_failed"));
    pending.clear();
  };
  return (message, transfer = []) =>
    new Promise((resolve, reject) => {
      if (failed) return reject(new VideoError("video_failed"));
      const id = next++;
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...message, id }, transfer);
    });
}

/**
 * Hash `file` as a video: { frames: [{ frame, pdq, quality, timestamp }] (kept), signals (md5
 * and sha256, when the file is at most DIGEST_MAX_BYTES; a still video's picture as a pdq,
 * stillPicture), hashed (frames hashed), duration, fps (null when not measured), width,
 * height }. Throws VideoError: video_undecodable, video_hevc, video_too_long, video_too_large,
 * video_timeout, video_cancelled, video_failed.
 *
 * `worker`: a hashing worker of its own (worker.js); `onProgress(done, total)` after each frame;
 * `onFrame(video)` once the first frame is shown (for a thumbnail); `signal`: an AbortSignal.
 */
export async function hashVideo(file, { worker, onProgress = () => {}, onFrame = () => {}, signal } = {}) {
  const ask = asker(worker);
  const url = URL.createObjectURL(file);
  let video = null;
  const check = () => {
    if (signal?.aborted) throw new VideoError("video_cancelled");
  };
  try {
    const digests = file.size <= DIGEST_MAX_BYTES ? ask({ file, digests: true }) : Promise.resolve({ signals: [] });
    digests.catch(() => {}); // awaited below; a failure must not go unhandled meanwhile
    video = await openVideo(file, url);
    check();
    const { videoWidth: width, videoHeight: height, duration } = video;
    if (duration > MAX_SECONDS) throw new VideoError("video_too_long");
    if (width * height > MAX_PIXELS) throw new VideoError("video_too_large");
    const fps = await measureFps(video);
    check();
    const plan = samplePlan(duration, fps);
    const canvas = document.createElement("canvas");
    canvas.width = width;
    canvas.height = height;
    const ctx = canvas.getContext("2d", { willReadFrequently: true, alpha: false });
    const hashed = [];
    const inFlight = [];
    let done = 0;
    onProgress(0, plan.length);
    const settle = async () => {
      const { sample, answer } = inFlight.shift();
      const r = await answer;
      hashed.push({ frame: sample.frame, pdq: r.pdq, quality: r.quality, timestamp: sample.timestamp });
      onProgress(++done, plan.length);
    };
    for (const sample of plan) {
      check();
      await seekTo(video, sample.t);
      if (sample === plan[0]) onFrame(video);
      const shown = await shownFrame(video);
      if (pastTheEnd(sample, shown.time, fps, duration)) {
        onProgress(++done, plan.length);
        continue;
      }
      const frame = shown.planes ?? drawn(video, ctx, width, height);
      const answer = ask({ frame }, [frame.yuv?.data ?? frame.pixels]);
      answer.catch(() => {}); // settled in order below; not an unhandled rejection meanwhile
      inFlight.push({ sample, answer });
      if (inFlight.length >= IN_FLIGHT) await settle();
    }
    while (inFlight.length) await settle();
    check();
    const { signals } = await digests;
    const frames = keptFrames(hashed);
    const still = stillPicture(hashed, frames);
    if (still) signals.push(still);
    return { frames, signals, hashed: hashed.length, duration, fps, width, height };
  } finally {
    if (video) {
      video.pause();
      video.removeAttribute("src");
      video.load();
    }
    URL.revokeObjectURL(url);
  }
}
