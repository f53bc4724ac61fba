// /report: the adult attestation, photos hashed in Web Workers on this device, only their
// signals sent to POST /v1/cases, then the case number and PIN shown once.
import { T, failure, fmt, focus, postJson, setUpQuickExit, show } from "./common.js";

setUpQuickExit();

const $ = (id) => document.getElementById(id);
const WORKERS = Math.max(1, Math.min(2, navigator.hardwareConcurrency || 1));
const photos = []; // { id, name, li, bar, status, state: "hashing"|"ready"|"low"|"error", signals }
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
  slot.worker = new Worker(new URL("./hashing/worker.js", import.meta.url), { type: "module" });
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
    // The 8 orientations let the service refuse a rotated copy of a public (allowlisted) image.
    slot.worker.postMessage({ id: photo.id, file: photo.file, orientations: true });
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

function addPhoto(file) {
  const id = nextId++;
  const li = document.createElement("li");
  li.className = "item";
  li.setAttribute("aria-busy", "true");
  const img = document.createElement("img");
  const url = URL.createObjectURL(file);
  img.src = url;
  img.alt = fmt("pick_thumb_alt", { name: file.name });
  img.width = 72;
  img.height = 72;
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
  li.append(img, body, remove);
  $("items").append(li);
  const photo = { id, name: file.name, file, li, bar, status, url, state: "hashing", signals: null };
  remove.addEventListener("click", () => {
    photos.splice(photos.indexOf(photo), 1);
    URL.revokeObjectURL(url);
    li.remove();
    update();
    $("photos").focus();
  });
  photos.push(photo);
  queue.push(photo);
}

$("photos").addEventListener("change", (event) => {
  for (const file of event.target.files) addPhoto(file);
  event.target.value = ""; // the same photo may be picked again after removing it
  update();
  pump();
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
  const items = ready.map((p) => ({
    kind: "image",
    signals: p.signals,
    pdq_orientations: p.orientations,
  }));
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
