/** Metric families workflows report for /metrics (rendered in Prometheus text format by src/http/metrics.ts). */

/** One gauge or counter family with its samples, computed at scrape time. */
export interface MetricFamily {
  name: string;
  type: 'gauge' | 'counter';
  help: string;
  samples: { labels?: Record<string, string>; value: number }[];
}
