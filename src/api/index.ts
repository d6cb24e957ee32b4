/** src/api: the HTTP server (Mistral and OpenAI dialects on the same /v1 paths). */
export { buildApp, type BuildOptions } from './app.ts';
export { startServer, createContext, type StartOptions, type RunningServer } from './server.ts';
export { fileValidationHook } from './file-validation.ts';
export { ApiError, errorCodes, type ErrorCode, type ErrorBody, type DetailItem } from './errors.ts';
export { dialectOf, type Dialect } from './dialect.ts';
export { parse, queryArray, queryBool, queryInt, type Where } from './parse.ts';
export type { ApiContext, ApiHooks, RouteDocs } from './context.ts';
export { UrlSigner } from './signing.ts';
