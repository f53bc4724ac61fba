// /case: the case number and PIN go in POST bodies only (never the URL, history or storage);
// the answer shows the case and its items; withdrawing asks once more before it acts.
import { T, failure, fmt, focus, postJson, setUpQuickExit, show } from "./common.js";

setUpQuickExit();

const $ = (id) => document.getElementById(id);
let access = null; // { case_number, pin } of the case shown, in memory only

function credentials() {
  return {
    case_number: $("case-number-input").value.trim(),
    pin: $("pin-input").value.trim(),
  };
}

$("case-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = credentials();
  if (!body.case_number || !body.pin) {
    (body.case_number ? $("pin-input") : $("case-number-input")).focus();
    return;
  }
  $("case-message").textContent = T.case_loading;
  $("case-show").disabled = true;
  const result = await postJson("v1/cases/status", body);
  $("case-show").disabled = false;
  if (!result.ok) {
    show($("case-view"), false);
    access = null;
    $("case-message").textContent = fmt("case_failed", { detail: failure(result) });
    return;
  }
  access = body;
  $("pin-input").value = ""; // kept in memory for a withdrawal, not on the screen
  $("case-message").textContent = "";
  render(result.data);
  focus($("case-h"));
});

function itemText(item) {
  if (item.state === "active") return T[`item_state_active_${item.trust}`];
  return T[`item_state_${item.state}`] ?? item.state;
}

function render(view) {
  $("case-summary").textContent = T[`case_status_${view.status}`] ?? view.status;
  const created = new Date(view.created_at);
  $("case-created").textContent = fmt("case_created", { date: created.toLocaleDateString() });
  const list = $("case-items");
  list.replaceChildren();
  view.items.forEach((item, n) => {
    const li = document.createElement("li");
    li.className = "item";
    li.dataset.state = item.state;
    const title = document.createElement("strong");
    title.textContent =
      item.kind === "video" ? fmt("item_label_video", { n: n + 1 }) : fmt("item_label", { n: n + 1 });
    const text = document.createElement("span");
    text.textContent = " " + itemText(item);
    li.append(title, text);
    if (item.blocked_uploads > 0) {
      const blocked = document.createElement("span");
      blocked.className = "blocked";
      blocked.textContent = " " + fmt("item_blocked_uploads", { n: item.blocked_uploads });
      li.append(blocked);
    }
    list.append(li);
  });
  show($("withdraw"), view.status === "active");
  show($("withdraw-confirm"), false);
  show($("withdraw-start"));
  show($("case-view"));
}

$("withdraw-start").addEventListener("click", () => {
  show($("withdraw-start"), false);
  show($("withdraw-confirm"));
  focus($("withdraw-q"));
});

$("withdraw-no").addEventListener("click", () => {
  show($("withdraw-confirm"), false);
  show($("withdraw-start"));
  $("withdraw-start").focus();
});

$("withdraw-yes").addEventListener("click", async () => {
  if (!access) return;
  $("withdraw-yes").disabled = true;
  const result = await postJson("v1/cases/withdraw", access);
  $("withdraw-yes").disabled = false;
  if (!result.ok) {
    $("withdraw-message").textContent = fmt("withdraw_failed", { detail: failure(result) });
    return;
  }
  const status = await postJson("v1/cases/status", access);
  if (status.ok) render(status.data);
  $("withdraw-message").textContent = T.withdraw_done;
  focus($("case-h"));
});
