/**
 * Chat requests refused before they reach an engine, each with the field named: more choices than
 * the setting chatMaxChoices (n=1000 was accepted and held an engine's rows), a conversation that
 * ends with a system message or puts `prefix` on a message that is not the last one (nothing to
 * continue), and tool parameters or a response schema nested deeper than chatMaxSchemaDepth (the
 * prompt renderer recursed until "Maximum call stack size exceeded").
 */
import type { Settings } from '../settings/index.ts';
import type { ChatRequest } from '../serving/index.ts';
import { ApiError } from './errors.ts';

/** How deeply objects and arrays nest in value (1 for a flat object); iterative, so any depth is measured safely. */
export function nestingDepth(value: unknown): number {
  let deepest = 0;
  const stack: { v: unknown; depth: number }[] = [{ v: value, depth: 0 }];
  while (stack.length) {
    const { v, depth } = stack.pop() as { v: unknown; depth: number };
    if (v === null || typeof v !== 'object') continue;
    deepest = Math.max(deepest, depth + 1);
    for (const item of Object.values(v)) stack.push({ v: item, depth: depth + 1 });
  }
  return deepest;
}

function refuse(param: string, reason: string): never {
  throw new ApiError('invalid_request', { reason }, { param });
}

function checkMessages(req: ChatRequest): void {
  const last = req.messages.length - 1;
  if (req.messages[last]?.role === 'system') {
    refuse(`messages.${last}.role`, 'The conversation ends with a system message; end it with a user or tool message (or an assistant message with prefix: true to continue it).');
  }
  req.messages.forEach((m, i) => {
    if (i !== last && m.role === 'assistant' && m.prefix === true) refuse(`messages.${i}.prefix`, 'prefix: true is only allowed on the last message (the assistant text the completion continues).');
  });
}

function checkDepth(req: ChatRequest, maxDepth: number): void {
  (req.tools ?? []).forEach((t, i) => {
    const depth = nestingDepth(t.function?.parameters);
    if (depth > maxDepth) refuse(`tools.${i}.function.parameters`, `Tool parameters nest ${depth} levels deep; at most ${maxDepth} are accepted (setting chatMaxSchemaDepth).`);
  });
  const depth = nestingDepth(req.response_format?.json_schema?.schema);
  if (depth > maxDepth) refuse('response_format.json_schema.schema', `The response schema nests ${depth} levels deep; at most ${maxDepth} are accepted (setting chatMaxSchemaDepth).`);
}

/** Throws a 400 naming the field when a parsed chat request is outside what Atelier serves. */
export function checkChatLimits(req: ChatRequest, settings: Pick<Settings, 'chatMaxChoices' | 'chatMaxSchemaDepth'>): void {
  if ((req.n ?? 1) > settings.chatMaxChoices) refuse('n', `n=${req.n} asks for more choices than the ${settings.chatMaxChoices} allowed (setting chatMaxChoices).`);
  checkMessages(req);
  checkDepth(req, settings.chatMaxSchemaDepth);
}
