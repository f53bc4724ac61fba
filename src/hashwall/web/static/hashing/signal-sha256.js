// The `sha256` signal: a file signal, the SHA-256 of the file's bytes (Web Crypto).
export const type = "sha256";

/** The signal of the file's bytes (an ArrayBuffer). */
export async function fromBytes(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return { type, value: Array.from(digest, (x) => x.toString(16).padStart(2, "0")).join("") };
}
