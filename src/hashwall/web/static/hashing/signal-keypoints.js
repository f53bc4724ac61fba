// The `keypoints` signal: a pixel signal, the picture's keypoint records (hashing/keypoints.js)
// as hex, byte for byte the server's keypoints() of the same pixels. Each strip of rows is
// reduced to the working image's width as it passes; the picture itself is never held whole.
import { UPLOAD, keypointsOfRows } from "./keypoints.js";

export const type = "keypoints";

/**
 * A hasher for an image of width x height pixels: neededRows, addRows(rgba, y0, n), finish().
 * `keypoints`: "bank" (a photo reported: the server's keypoints(pixels)) or "upload" (a check:
 * upload_keypoints(pixels)). finish() gives signal null when the picture has no keypoints.
 */
export function begin(width, height, { keypoints = "bank" } = {}) {
  const rows = keypointsOfRows(width, height, keypoints === "upload" ? UPLOAD : {});
  return {
    neededRows: [0, height],
    addRows: (rgba, y0, count) => rows.addRows(rgba, y0, count),
    finish() {
      const found = rows.finish();
      // A featureless picture has none: the signal is left out (a value holds 1 record or more).
      return { signal: found.count ? { type, value: found.hex, quality: null } : null };
    },
  };
}
