/**
 * Metrics in the Prometheus text format, without a dependency: gauge and counter families computed at scrape time
 * (what workflows report for /metrics), and histograms with fixed buckets.
 */

type Labels = Record<string, string>;

/** One gauge or counter family with its samples, computed at scrape time. */
export interface MetricFamily {
  name: string;
  type: 'gauge' | 'counter';
  help: string;
  samples: { labels?: Labels; value: number }[];
}

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

/** A histogram with fixed buckets. */
export class Histogram {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();

  constructor(readonly name: string, readonly help: string, readonly buckets: number[]) {}

  /** Records one observation. */
  observe(labels: Labels, value: number): void {
    const key = labelText(labels);
    let s = this.series.get(key);
    if (!s) this.series.set(key, (s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 }));
    this.buckets.forEach((b, i) => { if (value <= b) s!.counts[i]!++; });
    s.sum += value;
    s.count++;
  }

  /** The text format. */
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(b) })} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

/** One gauge or counter family rendered from values computed at scrape time. */
export function renderFamily({ name, type, help, samples }: MetricFamily): string {
  const lines = [`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`];
  for (const s of samples) lines.push(`${name}${labelText(s.labels ?? {})} ${Number.isFinite(s.value) ? s.value : 0}`);
  return lines.join('\n');
}
