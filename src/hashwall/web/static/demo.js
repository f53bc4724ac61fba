// /demo: plays a platform. A photo is fingerprinted here (the report page's worker) and checked
// with POST demo/check, and each match can get a reviewer's verdict (POST
// demo/matches/{ref}/verdict): the server makes both calls to its API as the demo platform, with
// a key that it holds and this page never sees.
import { T, failure, fmt, focus, postJson, setUpQuickExit, show } from "./common.js";

setUpQuickExit();

const $ = (id) => document.getElementById(id);
const worker = new Worker(new URL("./hashing/worker.js", import.meta.url), { type: "module" });
let thumbUrl = null;

function hash(file) {
  return new Promise((resolve) => {
    worker.onmessage = (event) => {
      if (event.data.done) resolve(event.data);
    };
    // An upload's keypoints (more of them, on a larger working picture), as a platform sends.
    worker.postMessage({ id: 1, file, orientations: true, keypoints: "upload" });
  });
}


$("demo-form").addEventListener("submit", (event) => event.preventDefault());

$("demo-photo").addEventListener("change", async (event) => {
  const file = event.target.files[0];
  event.target.value = "";
  if (!file) return;
  show($("demo-result"), false);
  $("demo-status").textContent = T.demo_checking;
  if (thumbUrl) URL.revokeObjectURL(thumbUrl);
  thumbUrl = URL.createObjectURL(file);
  const hashed = await hash(file);
  if (hashed.error) {
    $("demo-status").textContent = T[`status_${hashed.error}`] ?? T.status_undecodable;
    return;
  }
  const { signals, orientations } = hashed.result;
  const upload = {
    pdq: signals.find((s) => s.type === "pdq")?.value ?? null,
    sha256: signals.find((s) => s.type === "sha256")?.value ?? null,
  };
  const result = await postJson("demo/check", { signals, pdq_orientations: orientations });
  if (!result.ok) {
    $("demo-status").textContent = fmt("demo_failed", { detail: failure(result) });
    return;
  }
  $("demo-status").textContent = "";
  showAnswer(result.data, upload);
});

function showAnswer(answer, upload) {
  $("demo-thumb").src = thumbUrl;
  const decision = $("demo-decision");
  decision.dataset.decision = answer.decision;
  decision.textContent =
    answer.reason === "low_quality" ? T.demo_low_quality : T[`demo_decision_${answer.decision}`];
  const list = $("demo-matches");
  list.replaceChildren();
  for (const match of answer.matches) {
    const li = document.createElement("li");
    li.className = "match";
    const text = document.createElement("p");
    text.textContent = fmt("demo_match", { ref: match.match_ref });
    if (match.distance !== null && match.distance !== undefined) {
      const orientation = match.orientation ?? "original";
      text.textContent += ": " + fmt("demo_match_distance", { bits: match.distance, orientation });
    }
    const buttons = document.createElement("div");
    for (const verdict of ["confirmed", "not_ncii"]) {
      const button = document.createElement("button");
      button.type = "button";
      button.textContent = T[`demo_verdict_${verdict}`];
      button.addEventListener("click", () => sendVerdict(match.match_ref, verdict, upload));
      buttons.append(button);
    }
    li.append(text, buttons);
    list.append(li);
  }
  $("demo-verdict-status").textContent = "";
  show($("demo-result"));
  focus(decision);
}

async function sendVerdict(matchRef, verdict, upload) {
  const body = { verdict, upload_pdq: upload.pdq, upload_sha256: upload.sha256 };
  const result = await postJson(`demo/matches/${encodeURIComponent(matchRef)}/verdict`, body);
  const status = $("demo-verdict-status");
  if (!result.ok) status.textContent = fmt("demo_failed", { detail: failure(result) });
  else if (!result.data.recorded) status.textContent = T.demo_verdict_not_recorded;
  else status.textContent = fmt("demo_verdict_recorded", { verdict: T[`demo_verdict_${verdict}`] });
}
