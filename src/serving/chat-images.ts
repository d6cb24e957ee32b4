/**
 * Images in chat requests. Both dialects send an `image_url` chunk: Mistral's docs give the URL as
 * a string (`"image_url": "data:…"`) or `{url}`, OpenAI's SDK as `{url, detail}` (`detail` is
 * ignored, as mistral-common ignores it: the grid depends only on the image's size). Each chunk is
 * recorded where it was (`messages[i].content[j]`) so every refusal names it, and is checked
 * before an engine sees it: the model must have a vision encoder, the count and size must be
 * within the settings, and the source must be a base64 data URL. http(s) URLs are remote images:
 * fetching arbitrary URLs from the server is an SSRF risk, so they are refused while remote images
 * are off (`fetchRemoteImage` is the one place that would fetch them).
 */
import { checkImageUrl, fetchImageUrl, ImageFetchError } from '../data/index.ts';
import type { Settings } from '../settings/index.ts';

/** An image chunk of the request: its place, its source, and the chunk of the rendered sample it became. */
export type ChatImage = {
  /** `messages[i].content[j]`, as people read it (error messages). */
  where: string;
  /** `messages.i.content.j`, the error body's `param` (as the other chat checks spell it). */
  param: string;
  url: string;
  /** The sample's chunk (what the tokenizer reads the image's size from). */
  chunk: { type: 'image_url'; image_url: string };
};

export type ChatImageSettings = Pick<Settings, 'chatMaxImages' | 'chatMaxImageBytes' | 'dataMaxImageSide' | 'imageUrlFetch' | 'imageFetchTimeoutMs'>;

/** A request the server cannot serve as sent (the route answers 400 with the message, and `param` when known). */
export class ChatRequestError extends Error {
  constructor(message: string, readonly param?: string) {
    super(message);
  }
}

/** The URL of an `image_url` value in either dialect (a string, or an object with `url`), else null. */
export function imageUrlOf(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object' && typeof (value as { url?: unknown }).url === 'string') return (value as { url: string }).url;
  return null;
}

/**
 * Checks the request's images against the model and the settings and returns each one's bytes as
 * base64, in the order of their `[IMG]` blocks in the prompt (the order the chunks appear in: the
 * encoder never reorders images among themselves, it only moves a message's single trailing image
 * before its text). Throws ChatRequestError naming the first chunk at fault.
 */
export async function loadChatImages(images: ChatImage[], model: { id: string; vision: boolean }, settings: ChatImageSettings): Promise<string[]> {
  const first = images[0];
  if (!first) return [];
  if (!model.vision) {
    throw new ChatRequestError(
      `${first.where}: '${model.id}' is a text-only model (it has no vision encoder), so it cannot read images; send text only, or use a model whose capabilities.vision is true in GET /v1/models`,
      first.param,
    );
  }
  const over = images[settings.chatMaxImages];
  if (over) {
    throw new ChatRequestError(`${over.where}: the request has ${images.length} images; at most ${settings.chatMaxImages} are accepted (setting chatMaxImages)`, over.param);
  }
  return Promise.all(images.map((img) => loadImage(img, settings)));
}

function loadImage(img: ChatImage, settings: ChatImageSettings): Promise<string> {
  if (/^https?:/i.test(img.url)) return fetchRemoteImage(img, settings);
  if (!img.url.startsWith('data:')) {
    const shown = img.url.length > 40 ? `${img.url.slice(0, 40)}…` : img.url;
    throw new ChatRequestError(`${img.where}: image_url must be a base64 data URL "data:image/<type>;base64,<data>"; found ${JSON.stringify(shown)}`, img.param);
  }
  const data = img.url.slice(img.url.indexOf(',') + 1).replace(/\s+/g, '');
  const bytes = Math.floor((data.length * 3) / 4) - (data.endsWith('==') ? 2 : data.endsWith('=') ? 1 : 0);
  if (bytes > settings.chatMaxImageBytes) {
    throw new ChatRequestError(`${img.where}: image is ${bytes} bytes, above the limit of ${settings.chatMaxImageBytes} bytes (setting chatMaxImageBytes); resize or recompress it`, img.param);
  }
  // The dataset's image check (type, header), so chat and training agree on what an image is.
  const checked = checkImageUrl(img.url, { maxImageBytes: settings.chatMaxImageBytes, maxImageSide: settings.dataMaxImageSide }, img.where);
  if ('code' in checked) throw new ChatRequestError(checked.message, img.param);
  return Promise.resolve(data);
}

/**
 * The one place a remote image is fetched, and only when `imageUrlFetch` is on (off by default:
 * fetching server-side is an SSRF risk and a prompt that depends on a remote file does not
 * reproduce). The fetcher allows public addresses only, with a timeout and the size limit; the
 * bytes then pass the same checks as a data URL, and the chunk becomes that data URL, which the
 * tokenizer reads the image's size from.
 */
async function fetchRemoteImage(img: ChatImage, settings: ChatImageSettings): Promise<string> {
  if (!settings.imageUrlFetch) {
    throw new ChatRequestError(
      `${img.where}: remote images are off on this server (fetching URLs server-side is an SSRF risk; setting imageUrlFetch); embed the image as a data URL "data:image/<type>;base64,<data>"`,
      img.param,
    );
  }
  let bytes: Buffer;
  try {
    bytes = await fetchImageUrl(img.url, { enabled: true, timeoutMs: settings.imageFetchTimeoutMs, maxBytes: settings.chatMaxImageBytes });
  } catch (err) {
    if (err instanceof ImageFetchError) throw new ChatRequestError(`${img.where}: ${err.message}`, img.param);
    throw err;
  }
  const data = bytes.toString('base64');
  const checked = checkImageUrl(`data:image/unknown;base64,${data}`, { maxImageBytes: settings.chatMaxImageBytes, maxImageSide: settings.dataMaxImageSide }, img.where);
  if ('code' in checked) throw new ChatRequestError(checked.message, img.param);
  img.chunk.image_url = `data:image/${checked.type};base64,${data}`;
  return data;
}
