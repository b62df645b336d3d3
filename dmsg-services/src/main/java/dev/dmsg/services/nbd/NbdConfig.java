package dev.dmsg.services.nbd;

import dev.dmsg.link.LogLimiter;
import dev.dmsg.services.blk.BlockDevice;
import java.time.Duration;
import java.util.Collection;
import java.util.function.Function;
import java.util.function.LongSupplier;
import java.util.function.Supplier;

/**
 * Settings and shared state of an {@link NbdServer}'s connections: immutable, or thread-safe (the
 * caps, the memory budget and the counters of docs/BLK.md "Limits" and "Counters"). Made once by
 * {@link NbdServer.Builder}, read by {@link NbdAcceptor} and every {@link NbdConnection}.
 */
final class NbdConfig {
    /** Where exports come from: a lookup by name, and the names NBD_OPT_LIST shows. */
    record Exports(Function<String, BlockDevice> lookup, Supplier<? extends Collection<String>> names,
                   String defaultName) {
        /** The export a client named, {@code ""} meaning the default; {@code null} if none. */
        BlockDevice find(String name) {
            String n = name.isEmpty() ? defaultName : name;
            if (n == null || n.isEmpty()) {
                return null;
            }
            return lookup.apply(n);
        }
    }

    final Exports exports;
    final int maxPayloadBytes;
    final int maxInFlight;
    final long maxInFlightBytes;
    final Duration handshakeTimeout;
    final Duration stallTimeout;
    final Duration drainTimeout;
    final boolean multiConn;
    final NbdTls tls;
    final ConnectionCaps caps;
    final MemoryBudget budget;
    final NbdStats stats = new NbdStats();
    final LongSupplier nanoClock;
    /** Connections refused at accept (caps). */
    final LogLimiter refusalLog;
    /** Misbehaving clients: malformed input, timeouts, TLS refusals, error replies. */
    final LogLimiter misbehaviourLog;
    /** Connections closing (INFO): a client cycling connections cannot flood the log either. */
    final LogLimiter sessionLog;

    NbdConfig(NbdServer.Builder b) {
        this.exports = new Exports(b.lookup, b.names, b.defaultName);
        this.maxPayloadBytes = b.maxPayloadBytes;
        this.maxInFlight = b.maxInFlight;
        this.maxInFlightBytes = b.maxInFlightBytes;
        this.handshakeTimeout = b.handshakeTimeout;
        this.stallTimeout = b.stallTimeout;
        this.drainTimeout = b.drainTimeout;
        this.multiConn = b.multiConn;
        this.tls = b.tls;
        this.caps = new ConnectionCaps(b.maxConnections, b.maxConnectionsPerClient);
        if (b.budgetPerClientBytes < b.maxPayloadBytes) {
            throw new IllegalArgumentException("memory budget per client " + b.budgetPerClientBytes
                + " < max payload " + b.maxPayloadBytes + ": a request of the largest size could never run");
        }
        this.budget = new MemoryBudget(b.budgetBytes, b.budgetPerClientBytes);
        this.nanoClock = b.nanoClock;
        this.refusalLog = new LogLimiter(10, Duration.ofMinutes(1), b.nanoClock);
        this.misbehaviourLog = new LogLimiter(20, Duration.ofMinutes(1), b.nanoClock);
        this.sessionLog = new LogLimiter(60, Duration.ofMinutes(1), b.nanoClock);
    }

    String describeExports() {
        try {
            Collection<String> names = exports.names().get();
            return names.isEmpty() ? "no exports" : "exports " + String.join(", ", names);
        } catch (RuntimeException e) {
            return "exports (the list failed: " + e.getMessage() + ")";
        }
    }
}

