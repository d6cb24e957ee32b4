/** src/serving: chat completions and classifications — request schemas, prompt rendering, the engine pool, constrained decoding, SSE. */
export { chatRequestSchema, mistralChatBounds, normaliseChatRequest, type ChatParams, type ChatRequest } from './chat-request.ts';
export { ChatRequestError, loadChatImages, type ChatImage, type ChatImageSettings } from './chat-images.ts';
export { completeChat, ChatInputError, EngineFailure, type ChatResult, type ChatTarget, type ChoiceDelta, type FinishReason } from './complete-chat.ts';
export { newCompletionMeta, renderChunk, renderCompletion, type ChatDialect, type CompletionMeta } from './chat-render.ts';
export { EnginePool, type PoolSettings } from './engine-pool.ts';
export { Engine, type EngineOptions, type EngineRequest } from './engine.ts';
export type { ClassifyEvent, RequestEvent } from './engine-protocol.ts';
export { openEventStream, sendEvent, endEventStream } from './sse.ts';
export { makeToolCallId, type ToolCall } from './tool-calls.ts';
export { canEnd, feedText, startJson, type JsonSchema } from './json-grammar.ts';
export { packAdapterTar, removeAdapterFiles } from './adapter-files.ts';
export {
  chatClassificationInputs, chatClassificationSchema, chatModerationInputs, chatModerationSchema, ClassifierInputError, classifierTargetsOf,
  classifyInputs, renderClassification, renderModeration, textClassificationSchema, textInputs, type ClassifierInputs, type ModelTarget, type TargetScores,
} from './classifier-requests.ts';
