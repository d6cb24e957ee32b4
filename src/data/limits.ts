/**
 * The limits the validator applies, as plain options. Defaults come from the settings registry
 * (src/settings), so an environment variable changes them everywhere; every function that takes
 * options also accepts overrides.
 */
import { loadSettings } from '../settings/index.ts';

export type DataLimits = {
  /** Largest training file (Mistral: 512 MB). */
  maxFileBytes: number;
  /** Largest validation file (Mistral: 1 MB). */
  maxValidationFileBytes: number;
  maxLineBytes: number;
  minLines: number;
  /** Errors kept per file report; every error is still counted. */
  maxErrorsKept: number;
  maxImageBytes: number;
  /** Widest or tallest image in pixels (Mistral vision: 10000). */
  maxImageSide: number;
  maxImagesPerSample: number;
  /**
   * False for a text-only base model: every image is then `image_model_text_only` (the job is refused,
   * whatever invalid_sample_skip_percentage says). Not a setting: it comes from the job's base model.
   */
  imagesAllowed: boolean;
};

/** The limits from the environment's settings (Mistral's values unless overridden). */
export function defaultLimits(env: NodeJS.ProcessEnv = process.env): DataLimits {
  const s = loadSettings({}, env);
  return {
    maxFileBytes: s.maxFileBytes,
    maxValidationFileBytes: s.maxValidationFileBytes,
    maxLineBytes: s.dataMaxLineBytes,
    minLines: s.dataMinLines,
    maxErrorsKept: s.dataMaxErrorsKept,
    maxImageBytes: s.dataMaxImageBytes,
    maxImageSide: s.dataMaxImageSide,
    maxImagesPerSample: s.dataMaxImagesPerSample,
    imagesAllowed: true,
  };
}

/** Default limits with some of them replaced. */
export function resolveLimits(overrides: Partial<DataLimits> = {}): DataLimits {
  return { ...defaultLimits(), ...overrides };
}
