/**
 * Rules for one message in isolation: role, content (string or content parts, images included),
 * `text` misuse, weight and prefix. Shared by chat samples and classifier `messages` samples.
 * Conversation-level rules (order, tools, pairing) live in chat-rules.ts.
 */
import { excerpt, type DataErrorCode, type LineProblem } from './errors.ts';
import { checkImageUrl } from './images.ts';

export type Obj = Record<string, unknown>;
export const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export const ROLES = ['system', 'user', 'assistant', 'tool'] as const;
export type Role = (typeof ROLES)[number];

/** Collects the problems of one line. */
export class Problems {
  readonly list: LineProblem[] = [];
  add(code: DataErrorCode, message: string): void {
    this.list.push({ code, message });
  }
}

export type ImageLimits = { maxImageBytes: number; maxImageSide: number; imagesAllowed: boolean };

/** What the content of a message holds, for the rules and the statistics. */
export type ContentInfo = { present: boolean; nonEmpty: boolean; images: number };

/** Names a message in messages: `messages[2] (assistant)`. */
export function where(i: number, role?: string): string {
  return role ? `messages[${i}] (${role})` : `messages[${i}]`;
}

/** Checks the role of a message; returns it when it is one of the four roles. */
export function checkRole(msg: Obj, i: number, allowed: readonly Role[], p: Problems): Role | null {
  if (!('role' in msg) || msg.role === null || msg.role === undefined) {
    p.add('role_missing', `${where(i)} has no "role"; set it to one of ${allowed.join(', ')}`);
    return null;
  }
  const role = msg.role;
  if (typeof role !== 'string' || !(allowed as readonly string[]).includes(role)) {
    const hint = role === 'function' ? ' (run `atelier data reformat` to turn legacy "function" messages into "tool" messages)' : '';
    p.add('role_unknown', `${where(i)} has role ${excerpt(role)}; use one of ${allowed.join(', ')}${hint}`);
    return null;
  }
  return role as Role;
}

/**
 * Checks `content` (and a stray `text`) of a message. `optional` is true for messages that may
 * leave content out (an assistant with tool calls, a tool result).
 */
export function checkContent(msg: Obj, i: number, role: Role, limits: ImageLimits, p: Problems): ContentInfo {
  const at = where(i, role);
  if ('text' in msg && msg.text !== undefined) {
    p.add('message_text_field', `${at} has a "text" field; put the message text in "content" instead`);
  }
  const content = msg.content;
  if (content === undefined || content === null) return { present: false, nonEmpty: false, images: 0 };
  if (typeof content === 'string') return { present: true, nonEmpty: content.trim().length > 0, images: 0 };
  if (!Array.isArray(content)) {
    p.add('content_invalid', `${at} content must be a string or a list of content parts; found ${excerpt(content)}`);
    return { present: true, nonEmpty: true, images: 0 };
  }
  return checkParts(content, at, role, limits, p);
}

function checkParts(parts: unknown[], at: string, role: Role, limits: ImageLimits, p: Problems): ContentInfo {
  let nonEmpty = false;
  let images = 0;
  parts.forEach((part, k) => {
    const pat = `${at} content[${k}]`;
    if (!isObject(part)) {
      p.add('content_part_invalid', `${pat} must be an object like {"type":"text","text":"…"}; found ${excerpt(part)}`);
      nonEmpty = true; // already reported; an "empty content" error on top would only add noise
      return;
    }
    if (part.type === 'text') {
      if (typeof part.text !== 'string') {
        p.add('content_part_invalid', `${pat} is a text part without a string "text"`);
        nonEmpty = true;
      }
      else if (part.text.trim()) nonEmpty = true;
    } else if (part.type === 'image_url') {
      images += 1;
      nonEmpty = true;
      if (role !== 'user') p.add('image_not_allowed', `${pat}: images are only allowed in user messages, not ${role} messages`);
      else checkImagePart(part, pat, limits, p);
    } else {
      p.add('content_part_invalid', `${pat} has type ${excerpt(part.type ?? null)}; use "text" or "image_url"`);
      nonEmpty = true;
    }
  });
  return { present: true, nonEmpty, images };
}

function checkImagePart(part: Obj, at: string, limits: ImageLimits, p: Problems): void {
  const raw = part.image_url;
  // Mistral's docs write the URL as a string; OpenAI's shape {url} is accepted too.
  const url = typeof raw === 'string' ? raw : isObject(raw) && typeof raw.url === 'string' ? raw.url : null;
  if (url === null) {
    p.add('image_url_invalid', `${at}: image_url must be a data URL string or {"url": "<data URL>"}; found ${excerpt(raw)}`);
    return;
  }
  if (!limits.imagesAllowed) {
    p.add('image_model_text_only', `${at}: the base model is text-only (no vision encoder) and cannot read images; use a vision base model or remove the images`);
    return;
  }
  const result = checkImageUrl(url, limits, at);
  if ('code' in result) p.add(result.code, result.message);
}

/** Checks `weight` (0 or 1; booleans and strings are refused) and `prefix` (never true in training data). */
export function checkWeightAndPrefix(msg: Obj, i: number, role: Role, p: Problems): void {
  if ('weight' in msg && msg.weight !== undefined && msg.weight !== 0 && msg.weight !== 1) {
    p.add('weight_invalid', `${where(i, role)} has weight ${excerpt(msg.weight)}; weight must be the number 0 (not trained) or 1 (trained)`);
  }
  if (msg.prefix === true) {
    p.add('prefix_not_allowed', `${where(i, role)} has "prefix": true; prefix is for inference requests, remove it from training data`);
  }
}
