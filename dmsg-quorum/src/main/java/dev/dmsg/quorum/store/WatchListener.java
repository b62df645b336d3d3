package dev.dmsg.quorum.store;

import dev.dmsg.wire.qrm.WatchEvent;
import java.util.List;

/**
 * Receives a watch's changes (docs/QUORUM.md §3.4). Calls for one watch are serial (never
 * concurrent, each happens-before the next), on the hub's delivery executor, never on the thread
 * that applies log entries: a slow listener delays only its own watch, and a watch that falls too
 * far behind is ended.
 */
public interface WatchListener {
    /** The matching changes of one revision; revisions arrive in increasing order, none skipped, none twice. */
    void onEvents(long revision, List<WatchEvent> events);

    /** The watch was ended by the member (not by {@link Watch#cancel}): called once, last. */
    void onEnd(Watch.End end);

    /**
     * Whether the listener takes another revision now, asked before each: a listener whose own
     * output is backed up says no, and the watch holds delivery (its queue and bound apply) until
     * {@link Watch#resume} — so a replay from history is paced by the watcher, not dumped on it.
     * The end is delivered regardless. Must not block.
     */
    default boolean ready() {
        return true;
    }
}
