package dev.dmsg.quorum.store;

/** What asking for a watch came to (docs/QUORUM.md §3.4). */
public sealed interface WatchStart {
    /** Set up: the stream starts after {@code startsAfter} (the WATCHING reply's revision). */
    record Started(Watch watch, long startsAfter) implements WatchStart {}

    /**
     * Refused: the changes from the asked revision are no longer kept. {@code oldestRevision} is
     * the oldest one that is (a watch from it would succeed), {@code currentRevision} the store's.
     */
    record Compacted(long oldestRevision, long currentRevision) implements WatchStart {}
}
