package dev.dmsg.wire.qrm;

import java.util.List;

/**
 * What a QRM_COMMIT or QRM_READ carries (docs/QUORUM.md §3.3): if every compare holds, the
 * success ops run, else the failure ops, as one revision.
 */
public record Batch(List<Compare> compares, List<Op> success, List<Op> failure) {
    public Batch {
        compares = List.copyOf(compares);
        success = List.copyOf(success);
        failure = List.copyOf(failure);
    }

    /** A batch without compares: {@code ops} always run. */
    public static Batch of(Op... ops) {
        return new Batch(List.of(), List.of(ops), List.of());
    }

    /** Whether no op of either branch writes (a READ batch). */
    public boolean readOnly() {
        return success.stream().noneMatch(Op::writes) && failure.stream().noneMatch(Op::writes);
    }
}
