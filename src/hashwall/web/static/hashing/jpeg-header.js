// The size and EXIF orientation of a JPEG, read from its header without decoding it: the worker
// needs them to ask the browser for a reduced decode before any pixel exists.

const SOF = new Set([0xc0, 0xc1, 0xc2, 0xc3, 0xc5, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcd, 0xce, 0xcf]);

/** The EXIF orientation (1..8) in an APP1 segment's payload, or 1. */
function exifOrientation(view, start, end) {
  // "Exif\0\0", then a TIFF header: byte order, 42, offset of IFD0.
  if (end - start < 14 || view.getUint32(start) !== 0x45786966 || view.getUint16(start + 4) !== 0) return 1;
  const tiff = start + 6;
  const little = view.getUint16(tiff) === 0x4949;
  const u16 = (p) => view.getUint16(p, little);
  const u32 = (p) => view.getUint32(p, little);
  const ifd = tiff + u32(tiff + 4);
  if (ifd + 2 > end) return 1;
  const count = u16(ifd);
  for (let i = 0; i < count; i++) {
    const entry = ifd + 2 + 12 * i;
    if (entry + 12 > end) return 1;
    if (u16(entry) === 0x0112) {
      const value = u16(entry + 8);
      return value >= 1 && value <= 8 ? value : 1;
    }
  }
  return 1;
}

/**
 * { width, height } of a JPEG as displayed (after its EXIF orientation; 5..8 swap the sides),
 * or null when the bytes are not a JPEG or its header cannot be read.
 */
export function jpegSize(bytes) {
  const view = new DataView(bytes);
  if (view.byteLength < 4 || view.getUint16(0) !== 0xffd8) return null;
  let orientation = 1;
  let p = 2;
  try {
    while (p + 4 <= view.byteLength) {
      if (view.getUint8(p) !== 0xff) return null;
      const marker = view.getUint8(p + 1);
      if (marker === 0xff) { p += 1; continue; } // fill byte
      if (marker === 0xd8 || (marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) { p += 2; continue; }
      if (marker === 0xd9 || marker === 0xda) return null; // no frame header before the scan
      const length = view.getUint16(p + 2);
      const payload = p + 4;
      if (marker === 0xe1 && orientation === 1) {
        orientation = exifOrientation(view, payload, Math.min(view.byteLength, p + 2 + length));
      }
      if (SOF.has(marker)) {
        const height = view.getUint16(payload + 1);
        const width = view.getUint16(payload + 3);
        if (!width || !height) return null;
        return orientation >= 5 ? { width: height, height: width } : { width, height };
      }
      p += 2 + length;
    }
  } catch {
    return null; // a truncated header: decode as usual and let the decoder judge
  }
  return null;
}
