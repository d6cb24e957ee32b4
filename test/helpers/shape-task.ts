/**
 * A synthetic vision task for tests: "What colour is the shape?" over generated PNGs of a square,
 * circle or triangle in one of several colours, at a random size and position, on a grey ground,
 * in one of three image sizes (so grids differ). Seeded, so a run repeats; the held-out set is
 * drawn with another seed and balanced over the colours, so an answer that ignores the pixels
 * scores exactly 1 / colours.
 */
import { encodePng, pngDataUrl, type Rgb } from './draw-png.ts';
import { seededRandom } from './random-conversations.ts';

export const COLOURS: Record<string, Rgb> = {
  red: [220, 40, 40],
  green: [40, 180, 60],
  blue: [40, 70, 220],
  yellow: [240, 210, 40],
};
export const QUESTION = 'What colour is the shape?';

const SHAPES = ['square', 'circle', 'triangle'] as const;
const SIZES: [number, number][] = [[32, 32], [48, 32], [32, 48]];
const GROUND: Rgb = [200, 200, 200];

export type ShapeExample = { colour: string; shape: (typeof SHAPES)[number]; dataUrl: string };


function inside(shape: ShapeExample['shape'], x: number, y: number, cx: number, cy: number, r: number): boolean {
  const dx = x + 0.5 - cx;
  const dy = y + 0.5 - cy;
  if (shape === 'square') return Math.abs(dx) <= r && Math.abs(dy) <= r;
  if (shape === 'circle') return dx * dx + dy * dy <= r * r;
  return dy <= r && dy >= -r && Math.abs(dx) <= (dy + r) / 2; // apex up
}

function draw(colour: string, shape: ShapeExample['shape'], rand: () => number): ShapeExample {
  const [w, h] = SIZES[Math.floor(rand() * SIZES.length)] as [number, number];
  const r = 5 + rand() * 5;
  const cx = r + rand() * (w - 2 * r);
  const cy = r + rand() * (h - 2 * r);
  const fill = COLOURS[colour] as Rgb;
  const png = encodePng(w, h, (x, y) => (inside(shape, x, y, cx, cy, r) ? fill : GROUND));
  return { colour, shape, dataUrl: pngDataUrl(png) };
}

/** `n` examples; `balanced`: colours in turn (n a multiple of the colour count gives each the same share). */
export function shapeExamples(n: number, seed: number, balanced = false): ShapeExample[] {
  const rand = seededRandom(seed);
  const names = Object.keys(COLOURS);
  return Array.from({ length: n }, (_, i) => {
    const colour = balanced ? (names[i % names.length] as string) : (names[Math.floor(rand() * names.length)] as string);
    const shape = SHAPES[Math.floor(rand() * SHAPES.length)] as ShapeExample['shape'];
    return draw(colour, shape, rand);
  });
}

/** A dataset line: the image (Mistral's string form, or `{url}` every other line) and the question; the colour as the answer. */
export function shapeLine(e: ShapeExample, i: number, withImage = true): string {
  const image = { type: 'image_url', image_url: i % 2 ? { url: e.dataUrl } : e.dataUrl };
  const content = withImage ? [image, { type: 'text', text: QUESTION }] : QUESTION;
  return JSON.stringify({ messages: [{ role: 'user', content }, { role: 'assistant', content: e.colour }] });
}

/** The colour named by a reply ("Red." → "red"), or the reply itself when it names none exactly. */
export function answerOf(reply: string | null | undefined): string {
  return (reply ?? '').trim().toLowerCase().replace(/[.!\s]+$/, '');
}
