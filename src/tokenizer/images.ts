/**
 * Image placeholders: the `[IMG]` grid mistral-common's ImageEncoder emits for an image, computed
 * from the image's pixel size (read from its header; pixels are the trainer's business).
 */
import type { ImageSettings } from './backend.ts';
import { dataUrlPayload, inspectImage, isImageFault } from './image-bytes.ts';

export type ImageSize = { width: number; height: number };

/**
 * Reads width/height from a `data:image/...;base64,` URL or bare base64 (PNG, JPEG, GIF, WebP, BMP),
 * checking the bytes' structure (image-bytes.ts); throws for a URL, non-image or damaged bytes.
 */
export function imageSizeFromData(source: string): ImageSize {
  return imageFromData(source).size;
}

/** The decoded bytes and pixel size of a data URL or bare base64 image; throws as imageSizeFromData. */
export function imageFromData(source: string): { size: ImageSize; data: Buffer } {
  if (/^(https?|file):/i.test(source)) {
    throw new Error('image URLs are not fetched here: embed the image as a data:image/...;base64 URL');
  }
  const payload = dataUrlPayload(source);
  if (payload === null) throw new Error('an image must be a data:image/...;base64 URL or base64 bytes');
  const data = Buffer.from(payload, 'base64');
  const info = inspectImage(data);
  if (isImageFault(info)) throw new Error(`unreadable image: ${info.reason}`);
  return { size: { width: info.width, height: info.height }, data };
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** The placeholder ids: h rows of w `[IMG]`, each closed by `[IMG_BREAK]`, the last by `[IMG_END]`. */
export function imageTokens(
  size: ImageSize,
  cfg: ImageSettings,
  ids: { img: number; imgBreak: number; imgEnd: number },
): number[] {
  let w = size.width;
  let h = size.height;
  const ratio = Math.max(h / cfg.maxImageSize, w / cfg.maxImageSize);
  if (ratio > 1) {
    w = Math.max(roundHalfEven(w / ratio), 1);
    h = Math.max(roundHalfEven(h / ratio), 1);
  }
  const cell = cfg.patchSize * cfg.spatialMergeSize;
  const cols = Math.floor((w - 1) / cell) + 1;
  const rows = Math.floor((h - 1) / cell) + 1;
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out.push(ids.img);
    out.push(r === rows - 1 ? ids.imgEnd : ids.imgBreak);
  }
  return out;
}
