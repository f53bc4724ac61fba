// /report: the adult attestation, photos hashed in Web Workers on this device, videos hashed
// frame by frame on this device (hashing/video.js), only their signals sent to POST /v1/cases,
// then the case number and PIN shown once.
import { T, failure, fmt, focus, postJson, setUpQuickExit, show } from "./common.js";
import { VideoError, hashVideo, isVideo } from "./hashing/video.js";

setUpQuickExit();

const $ = (id) => document.getElementById(id);
const WORKER_URL = new URL("./hashing/worker.js", import.meta.url);
const WORKERS = Math.max(1, Math.min(2, navigator.hardwareConcurrency || 1));
// Each picked file: { id, kind: "image"|"video", name, li, bar, status,
// state: "hashing"|"ready"|"low"|"error"|"stopped", signals, ... }
const photos = [];
let nextId = 1;
let sent = false;
let lastSend = null; // { text, key }: the last body sent to POST /v1/cases and its key

// --- attestation --------------------------------------------------------------------------
$("attest-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const choice = new FormData(event.target).get("age");
  show($("attest-error"), !choice);
  if (!choice) return;
  show($("minors"), choice === "minor");
  show($("pick"), choice === "adult");
  focus(choice === "adult" ? $("pick-h") : $("minors-h"));
});

// --- hashing ------------------------------------------------------------------------------
const queue = [];
const pool = Array.from({ length: WORKERS }, () => startWorker({ worker: null, busy: null }));

function startWorker(slot) {
  slot.worker = new Worker(WORKER_URL, { type: "module" });
  slot.worker.onmessage = (event) => onWorkerMessage(slot, event.data);
  // A worker that could not load or crashed (out of memory on a huge photo): its photo fails
  // with a message, and a fresh worker is started for the next photo. The page never waits
  // forever.
  slot.worker.onerror = (event) => {
    event.preventDefault();
    const photo = slot.busy;
    slot.worker.terminate();
    slot.worker = null;
    slot.busy = null;
    if (photo && photos.includes(photo)) finishPhoto(photo, { error: "failed" });
    pump();
  };
  return slot;
}

function pump() {
  for (const slot of pool) {
    if (slot.busy || queue.length === 0) continue;
    const photo = queue.shift();
    if (!photos.includes(photo)) continue;
    if (!slot.worker) startWorker(slot);
    slot.busy = photo;
    // The 8 orientations let the service refuse a rotated copy of a public (allowlisted) image;
    // the keypoints are a banked photo's (found again in a cropped or turned copy).
    slot.worker.postMessage({ id: photo.id, file: photo.file, orientations: true, keypoints: "bank" });
  }
}

function onWorkerMessage(slot, message) {
  const photo = photos.find((p) => p.id === message.id);
  if (!message.done) {
    if (photo) photo.bar.value = message.progress;
    return;
  }
  slot.busy = null;
  if (photo) finishPhoto(photo, message);
  pump();
}

function finishPhoto(photo, message) {
  photo.file = null; // the worker has read it; the page keeps only the thumbnail
  photo.bar.value = 1;
  if (message.error) {
    photo.state = "error";
    photo.status.textContent = T[`status_${message.error}`] ?? T.status_undecodable;
  } else if (!message.result.usable) {
    photo.state = "low";
    photo.status.textContent = T.status_low_quality;
  } else {
    photo.state = "ready";
    photo.signals = message.result.signals;
    photo.orientations = message.result.orientations;
    photo.status.textContent = T.status_ready;
  }
  photo.li.dataset.state = photo.state;
  photo.li.setAttribute("aria-busy", "false");
  update();
}

/** The list entry of a picked file: thumbnail, name, progress bar, status, remove button. */
function listItem(file, thumb) {
  const li = document.createElement("li");
  li.className = "item";
  li.setAttribute("aria-busy", "true");
  const body = document.createElement("div");
  const name = document.createElement("p");
  name.className = "name";
  name.textContent = file.name;
  const bar = document.createElement("progress");
  bar.max = 1;
  bar.value = 0;
  bar.setAttribute("aria-label", fmt("progress_label", { name: file.name }));
  const status = document.createElement("p");
  status.className = "status";
  status.textContent = T.status_hashing;
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "remove";
  remove.textContent = "×";
  remove.setAttribute("aria-label", fmt("remove_photo", { name: file.name }));
  body.append(name, bar, status);
  li.append(thumb, body, remove);
  $("items").append(li);
  return { li, body, bar, status, remove };
}

/** Take `entry` off the list (its hashing, if running, is stopped). */
function removeEntry(entry) {
  photos.splice(photos.indexOf(entry), 1);
  entry.controller?.abort();
  if (entry.url) URL.revokeObjectURL(entry.url);
  entry.li.remove();
  update();
  $("photos").focus();
}

function addPhoto(file) {
  const img = document.createElement("img");
  const url = URL.createObjectURL(file);
  img.src = url;
  img.alt = fmt("pick_thumb_alt", { name: file.name });
  img.width = 72;
  img.height = 72;
  const { li, bar, status, remove } = listItem(file, img);
  const id = nextId++;
  const photo = { id, kind: "image", name: file.name, file, li, bar, status, url, state: "hashing", signals: null };
  remove.addEventListener("click", () => removeEntry(photo));
  photos.push(photo);
  queue.push(photo);
}

// --- videos -------------------------------------------------------------------------------
// One video at a time, each with a hashing worker of its own (photos keep the pool's).
const videoQueue = [];
let videoBusy = false;

function addVideo(file) {
  // The first frame, drawn here once it is shown: no image of the video is made elsewhere.
  const thumb = document.createElement("canvas");
  thumb.className = "thumb";
  thumb.width = 72;
  thumb.height = 72;
  thumb.setAttribute("role", "img");
  thumb.setAttribute("aria-label", fmt("pick_thumb_alt", { name: file.name }));
  const { li, body, bar, status, remove } = listItem(file, thumb);
  const stop = document.createElement("button");
  stop.type = "button";
  stop.className = "stop";
  stop.textContent = T.video_stop;
  stop.setAttribute("aria-label", fmt("video_stop_label", { name: file.name }));
  body.append(stop);
  const id = nextId++;
  const video = {
    id,
    kind: "video",
    name: file.name,
    file,
    li,
    bar,
    status,
    thumb,
    stop,
    state: "hashing",
    signals: null,
    frames: null,
    controller: new AbortController(),
  };
  stop.addEventListener("click", () => {
    video.controller.abort();
    remove.focus();
  });
  remove.addEventListener("click", () => removeEntry(video));
  photos.push(video);
  videoQueue.push(video);
}

function drawThumb(canvas, video) {
  const { videoWidth: w, videoHeight: h } = video;
  const side = Math.min(w, h);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(video, (w - side) / 2, (h - side) / 2, side, side, 0, 0, canvas.width, canvas.height);
}

async function pumpVideos() {
  while (!videoBusy && videoQueue.length) {
    const video = videoQueue.shift();
    if (!photos.includes(video)) continue;
    videoBusy = true;
    const worker = new Worker(WORKER_URL, { type: "module" });
    let outcome;
    try {
      const result = await hashVideo(video.file, {
        worker,
        signal: video.controller.signal,
        onProgress: (done, total) => {
          video.bar.value = total ? done / total : 0;
          video.status.textContent = fmt("status_video_progress", { done, total });
        },
        onFrame: (element) => drawThumb(video.thumb, element),
      });
      outcome = { result };
    } catch (err) {
      outcome = { error: err instanceof VideoError ? err.code : "video_failed" };
    } finally {
      worker.terminate();
      videoBusy = false;
    }
    if (photos.includes(video)) finishVideo(video, outcome);
  }
}

function finishVideo(video, { result, error }) {
  video.file = null; // only the thumbnail stays
  video.bar.value = 1;
  video.stop.remove();
  if (error) {
    video.state = error === "video_cancelled" ? "stopped" : "error";
    video.status.textContent = T[`status_${error}`] ?? T.status_video_undecodable;
  } else if (result.frames.length === 0) {
    video.state = "low";
    video.status.textContent = T.status_video_low_quality;
  } else {
    video.state = "ready";
    video.frames = result.frames;
    video.signals = result.signals;
    video.status.textContent = fmt("status_video_ready", { frames: result.frames.length });
  }
  video.li.dataset.state = video.state;
  video.li.dataset.frames = String(result ? result.frames.length : 0);
  video.li.setAttribute("aria-busy", "false");
  update();
}

$("photos").addEventListener("change", (event) => {
  for (const file of event.target.files) (isVideo(file) ? addVideo : addPhoto)(file);
  event.target.value = ""; // the same file may be picked again after removing it
  update();
  pump();
  pumpVideos();
});

function update() {
  const done = photos.filter((p) => p.state !== "hashing").length;
  const ready = photos.filter((p) => p.state === "ready").length;
  $("announce").textContent = photos.length ? fmt("announce_progress", { done, total: photos.length }) : "";
  const finished = photos.length > 0 && done === photos.length;
  $("send-summary").textContent = ready && finished ? fmt("send_summary", { count: ready }) : T.send_none;
  $("send").disabled = sent || !finished || ready === 0;
}

// --- sending ------------------------------------------------------------------------------
$("send").addEventListener("click", async () => {
  const ready = photos.filter((p) => p.state === "ready");
  if (ready.length === 0 || sent) return;
  $("send").disabled = true;
  $("send").textContent = T.sending;
  show($("send-error"), false);
  const items = ready.map((p) =>
    p.kind === "video"
      ? { kind: "video", signals: p.signals, frames: p.frames }
      : { kind: "image", signals: p.signals, pdq_orientations: p.orientations },
  );
  const body = { items };
  // Sending the same fingerprints again (after a lost answer) reuses the idempotency key, so
  // the service answers with the case it already opened instead of opening a second one.
  const text = JSON.stringify(body);
  if (!lastSend || lastSend.text !== text) lastSend = { text, key: crypto.randomUUID() };
  const result = await postJson("v1/cases", body, { "Idempotency-Key": lastSend.key });
  $("send").textContent = T.send_button;
  if (!result.ok) {
    $("send-error").textContent = fmt("send_failed", { detail: failure(result) });
    show($("send-error"));
    $("send").disabled = false;
    return;
  }
  sent = true;
  showReceipt(result.data, ready);
});

function showReceipt(receipt, ready) {
  $("case-number").textContent = receipt.case_number;
  $("pin").textContent = receipt.pin;
  const accepted = receipt.items.filter((i) => i.status === "accepted").length;
  $("done-items").textContent = fmt("done_items", { accepted, total: receipt.items.length });
  const refused = $("done-refused");
  refused.replaceChildren();
  for (const item of receipt.items.filter((i) => i.status === "refused")) {
    const li = document.createElement("li");
    li.textContent = fmt("done_refused", { index: item.index + 1, message: item.message ?? item.code });
    refused.append(li);
  }
  for (const p of ready) {
    p.signals = null;
    p.orientations = null;
    p.frames = null;
  }
  // The case number and PIN come first on the screen: what happened before is done.
  show($("intro"), false);
  show($("attest"), false);
  show($("pick"), false);
  show($("done"));
  focus($("done-h"));
}

async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    $("copy-status").textContent = T.copied;
  } catch {
    $("copy-status").textContent = T.copy_failed;
  }
}

$("copy-case").addEventListener("click", () => copy($("case-number").textContent));
$("copy-pin").addEventListener("click", () => copy($("pin").textContent));
$("save-text").addEventListener("click", () => {
  const text = fmt("save_contents", { case: $("case-number").textContent, pin: $("pin").textContent });
  const url = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = T.save_filename;
  a.rel = "noreferrer";
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
});
