/** Dataset formats: line reader, validator (coded errors), statistics, reformat and split. */
export { dataErrorCodes, type DataError, type DataErrorCode, type LineProblem } from './errors.ts';
export { defaultLimits, resolveLimits, type DataLimits } from './limits.ts';
export { readLines, type RawLine } from './line-reader.ts';
export { validateLine, detectFormat, type DatasetFormat, type FormatOption, type LineVerdict } from './validate-line.ts';
export { classifierTargetSchema, type ClassifierTarget } from './classifier-rules.ts';
export { emptyStats, type DatasetStats, type TokenCounter } from './stats.ts';
export {
  validateDatasetFile, iterateValidSamples, checkLines,
  type FileReport, type ValidSample, type ValidateOptions, type CheckedLine,
} from './validate-file.ts';
export { reformatFile, reformatSample, type ReformatReport } from './reformat.ts';
export { splitFile, parseSize, type SplitReport } from './split.ts';
export { loadTokenCounter } from './token-counter.ts';
export { sha256File } from './content-hash.ts';
export { ensureShard, ensureShardDir, validateIntoShard, openShardWriter, shardKey, type ImageTokenIds, type ShardCounts, type ShardInfo, type ShardWriter } from './shards.ts';
export { checkJsonSchema } from './json-schema-check.ts';
export { fetchImageUrl, isPublicAddress, ImageFetchError, type ImageFetchOptions } from './image-fetch.ts';
export { checkImageUrl, type ImageInfo } from './images.ts';
