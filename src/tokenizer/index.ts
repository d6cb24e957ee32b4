/** Mistral tokenizers (SentencePiece and Tekken), instruct encoding v1-v13, loss masks, decoding. */
export { loadTokenizer, Tokenizer, type EncodeChatOptions } from './tokenizer.ts';
export { MISTRAL_FINETUNE_POLICY, TOKENIZER_VERSIONS, type Encoded, type MaskPolicy, type TokenizerVersion } from './instruct.ts';
export type { StreamDecoder } from './decode.ts';
export type { AssistantOutput, ParsedToolCall } from './parse-output.ts';
export { ModelOutputError } from './parse-output.ts';
export { dumpsPy, loadsPy, PyFloat, PyInt, type PyValue } from './py-json.ts';
export { dataUrlPayload, inspectImage, isImageFault, type ImageFault, type ImageInfo, type ImageType } from './image-bytes.ts';
