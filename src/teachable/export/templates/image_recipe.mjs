// Teachable's image recipe for JavaScript, to the bit, shared by predict.mjs (Node.js) and
// index.html (the browser): transparent pixels on white with Pillow's alpha_composite integer
// arithmetic; then the centre square, Pillow's bilinear resize, (x - mean) / std, NCHW float32.
// The browser's canvas resize is not Pillow's (4.5 points apart on some photos); this is.
//
// An image is { width, height, data } with data RGBA bytes (a canvas's ImageData, or sharp's raw output).

// Transparent pixels on white, with the integer arithmetic of Pillow's alpha_composite.
export function onWhite(image) {
  const d = image.data;
  for (let o = 0; o < d.length; o += 4) {
    const a = d[o + 3];
    if (a === 255) continue;
    for (let c = 0; c < 3; c++) {
      if (a === 0) {
        d[o + c] = 255;
        continue;
      }
      const t = 128 * (d[o + c] * a + 255 * (255 - a)) + 128 * 128;
      d[o + c] = (((t >>> 8) + t) >>> 8) >>> 7;
    }
    d[o + 3] = 255;
  }
  return image;
}

// Pillow's bilinear resize of the centre square, to the bit: a triangle filter widened when
// shrinking, clamped to the square's edges, with weights in 22-bit fixed point and each pass
// rounded to 8 bits (horizontal first, then vertical), as Pillow's Resample.c computes it.
const BITS = 22;
function weights(outSize, offset, span) {
  const scale = span / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // bilinear: support 1, widened by the scale
  const table = [];
  for (let i = 0; i < outSize; i++) {
    const centre = (i + 0.5) * scale;
    const lo = Math.max(0, Math.trunc(centre - support + 0.5));
    const hi = Math.min(span, Math.trunc(centre + support + 0.5));
    const w = [];
    let total = 0;
    for (let x = lo; x < hi; x++) {
      const v = Math.max(0, 1 - Math.abs((x - centre + 0.5) / filterScale));
      w.push(v);
      total += v;
    }
    table.push({ lo: offset + lo, w: w.map((v) => Math.trunc((total ? v / total : 0) * (1 << BITS) + 0.5)) });
  }
  return table;
}

const clip8 = (v) => Math.min(255, Math.max(0, Math.floor(v / (1 << BITS))));

// The network's input: size x size, (x - mean) / std, NCHW float32.
export function centreSquare(image, size, mean, std) {
  const side = Math.min(image.width, image.height);
  const left = Math.floor((image.width - side) / 2);
  const top = Math.floor((image.height - side) / 2);
  const wx = weights(size, left, side);
  const wy = weights(size, top, side);
  const rows = new Uint8Array(image.height * size * 3); // horizontal pass
  for (let y = top; y < top + side; y++) {
    for (let i = 0; i < size; i++) {
      const { lo, w } = wx[i];
      for (let c = 0; c < 3; c++) {
        let v = 1 << (BITS - 1);
        for (let k = 0; k < w.length; k++) v += w[k] * image.data[(y * image.width + lo + k) * 4 + c];
        rows[(y * size + i) * 3 + c] = clip8(v);
      }
    }
  }
  const out = new Float32Array(3 * size * size); // vertical pass, NCHW, scaled
  for (let j = 0; j < size; j++) {
    const { lo, w } = wy[j];
    for (let i = 0; i < size; i++) {
      for (let c = 0; c < 3; c++) {
        let v = 1 << (BITS - 1);
        for (let k = 0; k < w.length; k++) v += w[k] * rows[((lo + k) * size + i) * 3 + c];
        out[c * size * size + j * size + i] = (clip8(v) - mean) / std;
      }
    }
  }
  return out;
}
