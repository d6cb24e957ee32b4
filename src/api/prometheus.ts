/**
 * The server's own metrics in Prometheus' text format (docs/metrics.md): a request latency
 * histogram by method, route and status, and gauges read at scrape time (jobs by status, queue
 * depth, serving engine slots). Plugins add gauges with `app.serverMetrics.gauge(...)`.
 */
export type GaugeSample = { labels?: Record<string, string>; value: number };
type Gauge = { name: string; help: string; collect(): Promise<GaugeSample[]> | GaugeSample[] };
type Series = { labels: Record<string, string>; buckets: number[]; sum: number; count: number };

/** Latency buckets in seconds: API calls are milliseconds, chat completions and uploads seconds. */
const bucketBounds = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const escape = (v: string) => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function labelText(labels: Record<string, string>): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escape(v)}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

export class ServerMetrics {
  readonly #requests = new Map<string, Series>();
  readonly #gauges: Gauge[] = [];

  /** Counts one answered request. */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status: String(status) };
    const key = JSON.stringify(labels);
    let s = this.#requests.get(key);
    if (!s) this.#requests.set(key, (s = { labels, buckets: bucketBounds.map(() => 0), sum: 0, count: 0 }));
    bucketBounds.forEach((b, i) => {
      if (seconds <= b) s.buckets[i] = (s.buckets[i] ?? 0) + 1;
    });
    s.sum += seconds;
    s.count += 1;
  }

  /** Registers a gauge read at every scrape. */
  gauge(name: string, help: string, collect: Gauge['collect']): void {
    this.#gauges.push({ name, help, collect });
  }

  #histogram(): string[] {
    const name = 'atelier_http_request_duration_seconds';
    const lines = [`# HELP ${name} Time to answer an HTTP request, by method, route and status.`, `# TYPE ${name} histogram`];
    for (const s of this.#requests.values()) {
      bucketBounds.forEach((b, i) => lines.push(`${name}_bucket${labelText({ ...s.labels, le: String(b) })} ${s.buckets[i]}`));
      lines.push(`${name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${name}_sum${labelText(s.labels)} ${s.sum}`, `${name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines;
  }

  /** The exposition text (text/plain; version=0.0.4). */
  async render(): Promise<string> {
    const lines: string[] = [];
    for (const g of this.#gauges) {
      lines.push(`# HELP ${g.name} ${g.help}`, `# TYPE ${g.name} gauge`);
      for (const s of await g.collect()) lines.push(`${g.name}${labelText(s.labels ?? {})} ${s.value}`);
    }
    return `${[...lines, ...this.#histogram()].join('\n')}\n`;
  }
}
