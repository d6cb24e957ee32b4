/** A fine-tuning job as the CLI reads it from the API (the fields it prints; both dialects carry them). */
export type Job = {
  id: string; status: string; model: string; created_at: number; fine_tuned_model?: string | null; suffix?: string | null;
  trained_tokens?: number | null; hyperparameters?: Record<string, unknown>; metadata?: Record<string, unknown> | null;
  events?: { name: string; data?: Record<string, unknown> | null }[];
};
