import { Counter, Gauge, Histogram, Registry, register as defaultRegistry } from 'prom-client';

/**
 * The prom-client registry Tributary uses when none is given: prom-client's global default
 * registry, so that `/metrics` of any app that already uses prom-client shows ours too.
 */
export function defaultMetricsRegistry(): Registry {
  return defaultRegistry;
}

type Config<L extends string> = { name: string; help: string; labelNames?: readonly L[] };

/**
 * Returns the counter registered under `config.name` in `registry`, creating it on first use.
 * Many operators (one breaker per source, say) share one metric with different labels; this keeps
 * them from registering the same name twice.
 */
export function counter<L extends string>(registry: Registry, config: Config<L>): Counter<L> {
  const existing = registry.getSingleMetric(config.name);
  if (existing) return existing as Counter<L>;
  return new Counter<L>({ ...config, labelNames: config.labelNames ?? [], registers: [registry] });
}

/** Like {@link counter}, for gauges. */
export function gauge<L extends string>(registry: Registry, config: Config<L>): Gauge<L> {
  const existing = registry.getSingleMetric(config.name);
  if (existing) return existing as Gauge<L>;
  return new Gauge<L>({ ...config, labelNames: config.labelNames ?? [], registers: [registry] });
}

/** Like {@link counter}, for histograms (`buckets` in seconds). */
export function histogram<L extends string>(registry: Registry, config: Config<L> & { buckets?: number[] }): Histogram<L> {
  const existing = registry.getSingleMetric(config.name);
  if (existing) return existing as Histogram<L>;
  return new Histogram<L>({ ...config, labelNames: config.labelNames ?? [], registers: [registry] });
}

/** Default buckets for operation durations, in seconds: 5 ms to 2 min. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
