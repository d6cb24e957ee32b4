/** What the instruct encoders need from a text tokenizer (SentencePiece or Tekken). */
export interface TextBackend {
  readonly kind: 'spm' | 'tekken';
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  /** Appends the ids of ordinary text (special-token look-alikes stay text) to `out`. */
  encodeInto(text: string, out: number[]): void;
  /** The id of a special/control token by its string (e.g. "[INST]"), or undefined. */
  specialId(name: string): number | undefined;
  /** True for control/special ids, which decode to nothing. */
  isSpecial(id: number): boolean;
  /** The string of a special id (e.g. "[TOOL_CALLS]"). */
  specialName(id: number): string | undefined;
  /** The UTF-8 bytes an ordinary id stands for (SentencePiece's `▁` as a space). */
  tokenBytes(id: number): Uint8Array;
  /** SentencePiece drops the space it added in front of the text; Tekken adds none. */
  readonly stripLeadingSpace: boolean;
  /** Image settings from the file, when it has them. */
  readonly image: ImageSettings | null;
}

export type ImageSettings = { patchSize: number; maxImageSize: number; spatialMergeSize: number };
