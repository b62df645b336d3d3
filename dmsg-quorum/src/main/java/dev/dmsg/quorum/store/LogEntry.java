package dev.dmsg.quorum.store;

import dev.dmsg.quorum.cac.CacEntry;
import dev.dmsg.wire.qrm.Batch;
import java.util.Objects;

/**
 * What one Raft log entry asks of the state machine (docs/QUORUM.md §4.1). Encoded by
 * {@link LogEntries}; applied by {@link KvState#apply}.
 */
public sealed interface LogEntry {
    /** Phase 1: check the compares, pick the branch, reserve its keys. */
    record Prepare(Txid txid, int leaseMs, Batch batch) implements LogEntry {
        public Prepare {
            Objects.requireNonNull(txid, "txid");
            Objects.requireNonNull(batch, "batch");
            if (leaseMs < 0 || leaseMs > KvState.MAX_LEASE_MS) {
                throw new IllegalArgumentException("lease_ms " + leaseMs + " not in 0.." + KvState.MAX_LEASE_MS);
            }
        }
    }

    /** Phase 2: apply the prepared branch as one revision, release its keys. */
    record Commit(Txid txid) implements LogEntry {
        public Commit {
            Objects.requireNonNull(txid, "txid");
        }
    }

    /** The initiator gave up, or its member saw it die: release the keys, apply nothing. */
    record Abort(Txid txid, Why why) implements LogEntry {
        public Abort {
            Objects.requireNonNull(txid, "txid");
            Objects.requireNonNull(why, "why");
        }
    }

    /** The leader saw the lease run out (docs/QUORUM.md §4 "Lost initiator"). */
    record Expire(Txid txid) implements LogEntry {
        public Expire {
            Objects.requireNonNull(txid, "txid");
        }
    }

    /** ONE_PHASE: compares, conflict check and apply in one step. */
    record Write(Batch batch) implements LogEntry {
        public Write {
            Objects.requireNonNull(batch, "batch");
        }
    }

    /** A lock entry (docs/CAC.md §5), applied to the group's lock table. */
    record Lock(CacEntry entry) implements LogEntry {
        public Lock {
            Objects.requireNonNull(entry, "entry");
        }
    }

    /** Why an ABORT was proposed (its {@code why} byte). */
    enum Why {
        INITIATOR(1), LOST_INITIATOR(2);

        public final int code;

        Why(int code) {
            this.code = code;
        }

        /** The reason with wire code {@code c}, or {@code null}. */
        public static Why of(int c) {
            return c == 1 ? INITIATOR : c == 2 ? LOST_INITIATOR : null;
        }
    }
}
