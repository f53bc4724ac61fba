// The `md5` signal: a file signal, the MD5 of the file's bytes.
import { md5Hex } from "./md5.js";

export const type = "md5";

/** The signal of the file's bytes (an ArrayBuffer). */
export async function fromBytes(bytes) {
  return { type, value: md5Hex(new Uint8Array(bytes)) };
}
