// A decoded video frame's Y'CbCr planes (WebCodecs VideoFrame.copyTo: I420 or NV12, 8 bits) to
// RGBA, as the server converts: FFmpeg's swscale with its default matrix, BT601, whatever the
// video is tagged with (vPDQ's reference does the same), limited range unless the frame says
// full range, each chroma sample used for its 2 x 2 pixels. A canvas instead converts with the
// matrix the video is tagged with, or its guess (BT709 for HD): on saturated colours that
// moves PDQ by 10 or more bits.

// BT601: [Y scale, V->R, U->G, V->G, U->B] for limited and full range.
const LIMITED = [255 / 219, 1.596027, 0.391762, 0.812968, 2.017232];
const FULL = [1, 1.402, 0.344136, 0.714136, 1.772];

/**
 * RGBA bytes (width * height * 4, opaque) of the planes in `data` (an ArrayBuffer) laid out as
 * `layout` ([{ offset, stride }] per plane) in `format` ("I420": Y, U, V; "NV12": Y, UV).
 */
export function rgbaFromYuv({ data, layout, format, width, height, fullRange = false }) {
  const bytes = new Uint8Array(data);
  const [ys, vr, ug, vg, ub] = fullRange ? FULL : LIMITED;
  const y0 = fullRange ? 0 : 16;
  const out = new Uint8ClampedArray(width * height * 4);
  const [Y, P1, P2] = layout;
  const nv12 = format === "NV12";
  for (let y = 0; y < height; y++) {
    const yRow = Y.offset + y * Y.stride;
    const c = y >> 1;
    const uRow = P1.offset + c * P1.stride;
    const vRow = nv12 ? uRow + 1 : P2.offset + c * P2.stride;
    const step = nv12 ? 2 : 1;
    let o = y * width * 4;
    for (let x = 0; x < width; x++, o += 4) {
      const l = (bytes[yRow + x] - y0) * ys;
      const k = (x >> 1) * step;
      const u = bytes[uRow + k] - 128;
      const v = bytes[vRow + k] - 128;
      out[o] = l + vr * v; // Uint8ClampedArray rounds and clamps
      out[o + 1] = l - ug * u - vg * v;
      out[o + 2] = l + ub * u;
      out[o + 3] = 255;
    }
  }
  return out;
}
