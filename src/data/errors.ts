/**
 * The one registry of dataset problem codes. Each code is stable (scripts match on it) and is
 * documented with an example in docs/data-errors.md; `errors.test.ts` checks that every code here
 * is used by the validator and documented, and that the docs list no stale code.
 */
export const dataErrorCodes = {
  // File level (reported with line 0)
  file_unreadable: 'the file cannot be opened (missing, a directory, or no permission)',
  file_too_large: 'the file is larger than the limit for its role (training or validation)',
  file_too_few_lines: 'the file has fewer lines than the minimum',

  // Line level: reading and parsing
  line_too_long: 'the line is longer than the maximum line length',
  line_blank: 'the line is empty or only whitespace',
  line_invalid_utf8: 'the line is not valid UTF-8',
  line_invalid_json: 'the line is not valid JSON',
  line_not_object: 'the line is JSON but not an object',

  // Chat: conversation structure
  messages_missing: 'the sample has no "messages" key',
  messages_not_list: '"messages" is not a list',
  messages_empty: '"messages" is an empty list',
  message_not_object: 'a message is not an object',
  role_missing: 'a message has no role',
  role_unknown: 'a message role is not system, user, assistant or tool',
  role_order: 'a message role may not follow the previous one',
  system_multiple: 'more than one system message',
  last_not_assistant: 'the last message is not an assistant message',

  // Chat: message content
  content_missing: 'a message has no content',
  content_empty: 'a message content is empty or only whitespace',
  content_invalid: 'a message content is neither a string nor a list of content parts',
  content_part_invalid: 'a content part is not a known part (text, image_url)',
  message_text_field: 'a message uses "text" instead of "content"',
  weight_invalid: 'a message weight is not 0 or 1',
  prefix_not_allowed: 'an assistant message has prefix: true (not allowed in training data)',
  assistant_content_and_tool_calls: 'an assistant message has both content and tool_calls',

  // Function calling
  tool_calls_invalid: 'tool_calls is not a list of {id, type: "function", function: {name, arguments}}',
  tool_calls_not_assistant: 'tool_calls on a message that is not an assistant message',
  tool_call_id_invalid: 'a tool call id is not 9 letters or digits',
  tool_call_id_duplicate: 'the same tool call id is used twice in a sample',
  tool_call_arguments_invalid: 'tool call arguments are not a string holding a JSON object',
  function_name_invalid: 'a function name does not match ^[a-zA-Z0-9_-]{1,64}$',
  tool_call_undeclared: 'a tool call names a function that is not in "tools"',
  tool_call_unanswered: 'a tool call has no tool result before the next non-tool message',
  tool_result_id_invalid: 'a tool message has no valid tool_call_id',
  tool_result_unmatched: 'a tool message answers no pending tool call',
  tool_result_name_mismatch: 'a tool message name differs from the function of its call',
  tools_invalid: '"tools" is not a list of {type: "function", function: {...}}',
  tool_description_missing: 'a tool has no description',
  tool_parameters_invalid: 'a tool parameters field is not a valid JSON Schema object',
  tool_name_duplicate: 'two tools have the same name',

  // Vision
  image_not_allowed: 'an image in a message that is not a user message',
  image_url_invalid: 'an image_url is not a base64 data URL of an image',
  image_data_invalid: 'an image data URL holds invalid base64',
  image_type_unsupported: 'image bytes are not PNG, JPEG, WebP or GIF',
  image_corrupt: 'image bytes are damaged or truncated (container structure, CRC, end marker) or give a zero width or height',
  image_dimensions_too_large: 'an image is wider or taller than the per-side pixel limit',
  image_too_large: 'an image is larger than the per-image size limit',
  images_too_many: 'a sample has more images than the limit',
  image_model_text_only: 'an image in a job whose base model cannot read images (text-only)',

  // Classifier
  classifier_input_missing: 'a classifier sample has neither "text" nor "messages"',
  classifier_input_both: 'a classifier sample has both "text" and "messages"',
  classifier_text_invalid: 'a classifier "text" is not a non-empty string',
  labels_missing: 'a classifier sample has no "labels"',
  labels_invalid: '"labels" is not an object of target name to label or list of labels',
  label_target_unknown: 'a label names a target that the job does not declare',
  label_unknown: 'a label is not among the labels of its target',
  label_multiple_single_class: 'several labels for a single_class target',
  label_target_missing: 'a declared target has no label in the sample',

  // Tokenization (when a tokenizer is given)
  tokenize_failed: 'the tokenizer could not encode the sample',
} as const;

export type DataErrorCode = keyof typeof dataErrorCodes;

/** One problem in a dataset file: line 0 means the whole file. */
export type DataError = { file: string; line: number; code: DataErrorCode; message: string };

/** A problem found inside one line, before the file and line number are attached. */
export type LineProblem = { code: DataErrorCode; message: string };

/** A short, single-line excerpt of any value for error messages (never throws). */
export function excerpt(value: unknown, max = 40): string {
  let text: string;
  if (typeof value === 'string') text = JSON.stringify(value.length > max * 2 ? value.slice(0, max * 2) : value);
  else {
    try {
      text = JSON.stringify(value) ?? String(value);
    } catch (err) {
      // Only a stack overflow on absurdly deep values is expected here.
      if (!(err instanceof RangeError)) throw err;
      text = '<too deeply nested>';
    }
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
