/**
 * A node's Prometheus metrics and its health checks, served over HTTP (docs/OPERATIONS.md
 * "Metrics and health"): {@link dev.dmsg.services.metrics.MetricsServer} is the listener
 * ({@code /metrics}, {@code /healthz}, {@code /readyz}), {@link dev.dmsg.services.metrics.NodeCollector}
 * reads the node's own counters at scrape time, {@link dev.dmsg.services.metrics.LinkRtt} times
 * round trips on the links.
 *
 * <p>Above the node, never below it: this package reads a running
 * {@link dev.dmsg.services.node.Node} through its public accessors, and the node knows nothing of
 * it ({@code dmsg node --metrics} starts it beside the node). Counting stays where it was — in the
 * links, the endpoint, the exports — and nothing here runs on the hot path; the one histogram
 * recorded there (BLK latency) is the exports' own ({@link dev.dmsg.services.blk.LatencyHistogram}).
 */
package dev.dmsg.services.metrics;
