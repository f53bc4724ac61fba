// What every reporter page shares: its strings, the quick-exit link, and JSON calls to this
// server. Nothing here writes to storage or the console: a PIN must leave no trace in the browser.

/** The page's strings (strings/en.json, embedded by the server as a JSON data block). */
export const T = JSON.parse(document.getElementById("strings").textContent);

/** The string `key` with its {placeholders} filled from `vars`. */
export function fmt(key, vars = {}) {
  return T[key].replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

/** The quick-exit link replaces this page, in this tab's history too, with a neutral site. */
export function setUpQuickExit() {
  const link = document.getElementById("quick-exit");
  const leave = (event) => {
    event?.preventDefault();
    document.body.hidden = true;
    window.location.replace(link.href);
  };
  link.addEventListener("click", leave);
  // Escape pressed twice in a row also leaves, for a person who cannot reach the mouse in time.
  let last = 0;
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    if (event.timeStamp - last < 600) leave(event);
    last = event.timeStamp;
  });
}

/** POST `body` as JSON to `path` (relative to the page): { ok, status, data }; status 0 when
 *  the service could not be reached. */
export async function postJson(path, body, headers = {}) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json", ...headers },
      body: JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
    });
  } catch {
    return { ok: false, status: 0, data: null };
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  return { ok: response.ok, status: response.status, data };
}

/** A sentence for a failed call: the server's problem detail, or what went wrong. */
export function failure(result) {
  if (result.status === 0) return T.error_network;
  if (result.data && typeof result.data.detail === "string") return result.data.detail;
  return fmt("error_generic", { code: result.status });
}

/** Show or hide an element. */
export function show(el, visible = true) {
  el.hidden = !visible;
}

/** Move keyboard and screen-reader focus to `el` (a heading with tabindex=-1). */
export function focus(el) {
  el.focus({ preventScroll: false });
}
