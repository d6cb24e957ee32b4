/**
 * Image checks for vision samples: an `image_url` must be a base64 data URL whose bytes are a real,
 * complete PNG, JPEG, WebP or GIF within the size limits. The bytes are read and structurally checked
 * by the tokenizer's image reader (src/tokenizer/image-bytes.ts, the one place that parses image
 * containers), so validation and tokenization agree on what an image is.
 */
import type { LineProblem } from './errors.ts';
import { inspectImage, isImageFault, type ImageInfo } from '../tokenizer/index.ts';

export type { ImageInfo };

/** The limits an image is checked against. */
export type ImageByteLimits = { maxImageBytes: number; maxImageSide: number };

const DATA_URL = /^data:image\/[a-zA-Z0-9.+-]+(;[a-zA-Z0-9=.+-]+)*;base64,/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** Mistral's vision API takes these (docs.mistral.ai vision page); BMP is read by the tokenizer but not accepted in datasets. */
const ACCEPTED = new Set(['png', 'jpeg', 'webp', 'gif']);

/** Checks one image URL; returns the image's info or the problem found. */
export function checkImageUrl(url: string, limits: ImageByteLimits, where: string): ImageInfo | LineProblem {
  const head = DATA_URL.exec(url);
  if (!head) {
    const shown = url.length > 40 ? `${url.slice(0, 40)}…` : url;
    return {
      code: 'image_url_invalid',
      message: `${where}: image_url must be a data URL "data:image/<type>;base64,<data>" (remote and file URLs are not accepted in training data); found ${JSON.stringify(shown)}`,
    };
  }
  const data = url.slice(head[0].length).replace(/\s+/g, '');
  if (data.length === 0 || !BASE64.test(data) || data.length % 4 === 1) {
    return { code: 'image_data_invalid', message: `${where}: the image data URL does not hold valid base64` };
  }
  const size = Math.floor((data.length * 3) / 4) - (data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0);
  if (size > limits.maxImageBytes) {
    return { code: 'image_too_large', message: `${where}: image is ${size} bytes, above the limit of ${limits.maxImageBytes} bytes (ATELIER_DATA_MAX_IMAGE_BYTES); resize or recompress it` };
  }
  return checkImageBytes(Buffer.from(data, 'base64'), limits, where);
}

/** Checks decoded image bytes: type, structure (complete, CRCs), and pixel dimensions. */
export function checkImageBytes(bytes: Buffer, limits: ImageByteLimits, where: string): ImageInfo | LineProblem {
  const info = inspectImage(bytes);
  if (isImageFault(info) && info.fault === 'unknown') {
    return { code: 'image_type_unsupported', message: `${where}: the image bytes are not PNG, JPEG, WebP or GIF` };
  }
  if (isImageFault(info)) {
    return { code: 'image_corrupt', message: `${where}: the image is damaged or truncated (${info.reason}); re-export it` };
  }
  if (!ACCEPTED.has(info.type)) {
    return { code: 'image_type_unsupported', message: `${where}: ${info.type.toUpperCase()} images are not accepted; convert it to PNG, JPEG, WebP or GIF` };
  }
  if (info.width > limits.maxImageSide || info.height > limits.maxImageSide) {
    return {
      code: 'image_dimensions_too_large',
      message: `${where}: the image is ${info.width}x${info.height} pixels, above the limit of ${limits.maxImageSide} per side (ATELIER_DATA_MAX_IMAGE_SIDE); downscale it`,
    };
  }
  return info;
}
