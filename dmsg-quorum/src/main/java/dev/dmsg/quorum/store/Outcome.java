package dev.dmsg.quorum.store;

import dev.dmsg.quorum.cac.CacEvent;
import dev.dmsg.wire.qrm.Blob;
import dev.dmsg.wire.qrm.Results;
import java.util.List;
import java.util.Objects;

/**
 * What applying one log entry (or answering one read) came to: the state machine's answer,
 * encoded by {@link Outcomes} as the Ratis reply (docs/QUORUM.md §4.1), which the member turns into
 * the DMSG reply.
 */
public sealed interface Outcome {
    /** COMMIT or WRITE applied, or a read answered: the store {@code revision} after it, and the results. */
    record Done(long revision, Results results) implements Outcome {
        public Done {
            Objects.requireNonNull(results, "results");
        }
    }

    /** PREPARE applied: the compares {@code held} (success branch prepared) or not; {@code index} of the PREPARE. */
    record Prepared(boolean held, long index) implements Outcome {}

    /** Refused: {@code key} (one of ours) overlaps what the prepared batch at {@code otherIndex} reserved. */
    record Conflict(long otherIndex, Blob key) implements Outcome {
        public Conflict {
            Objects.requireNonNull(key, "key");
        }
    }

    /** COMMIT, ABORT or EXPIRE of a txid that is not prepared (never was, or already finished). */
    record NotPrepared() implements Outcome {}

    /** PREPARE refused: the group already holds its maximum of prepared batches. */
    record Limit() implements Outcome {}

    /** ABORT or EXPIRE applied: the reservations are gone, nothing was written. */
    record Aborted() implements Outcome {}

    /**
     * A lock entry applied (docs/CAC.md §5): the events it caused, which every member computes
     * and hands to its lock service. The Ratis reply carries only the kind ({@link Outcomes}
     * LOCKED): decoded, the list is empty — a home learns what happened from its own member's events.
     */
    record Locked(List<CacEvent> events) implements Outcome {
        public Locked {
            events = List.copyOf(events);
        }
    }

    /** The entry or request did not decode: applied as a no-op (every member refuses it alike). */
    record Invalid(String reason) implements Outcome {
        public Invalid {
            Objects.requireNonNull(reason, "reason");
        }
    }
}
