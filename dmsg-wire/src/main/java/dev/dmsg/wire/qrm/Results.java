package dev.dmsg.wire.qrm;

import java.util.List;

/** What a batch did (docs/QUORUM.md §3.3): which branch ran, and one result per op of it. */
public record Results(boolean succeeded, List<OpResult> results) {
    public Results {
        results = List.copyOf(results);
    }
}
