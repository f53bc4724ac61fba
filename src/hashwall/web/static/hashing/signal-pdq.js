// The `pdq` signal: a pixel signal, fed the upright, white-composited pixels strip by strip.
import { MIN_QUALITY, PdqAccumulator } from "./pdq.js";

export const type = "pdq";

/**
 * A hasher for an image of width x height pixels: neededRows, addRows(rgba, y0, n), finish().
 * fullWidth x fullHeight: the picture's size when those pixels were decoded reduced.
 */
export function begin(width, height, { orientations = false, fullWidth = width, fullHeight = height } = {}) {
  const acc = new PdqAccumulator(width, height, fullWidth, fullHeight);
  return {
    neededRows: acc.neededRows,
    addRows: (rgba, y0, count) => acc.addRows(rgba, y0, count),
    finish() {
      const r = acc.finish(orientations);
      return {
        // A PDQ of low quality means nothing: the server refuses to bank it.
        signal: { type, value: r.hash, quality: r.quality },
        usable: r.quality >= MIN_QUALITY,
        quality: r.quality,
        orientations: r.orientations,
      };
    },
  };
}
