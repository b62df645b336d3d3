package dev.dmsg.link;

/**
 * LNK_PING keepalive and the dead-peer clock of one link (docs/PROFILE.md §4). It decides; the
 * {@link Iocom} acts (sends the PING, fails the link). Time comes in as {@code nowNanos}. Event
 * loop only.
 */
final class Keepalive {
    /** What {@link #check} wants done. */
    enum Action { NONE, PING, DEAD }

    private final LinkConfig config;
    private long lastSendNanos;
    private long lastLifeNanos;
    private long lastBacklogBytes;

    Keepalive(LinkConfig config) {
        this.config = config;
    }

    void start(long nowNanos) {
        lastSendNanos = nowNanos;
        lastLifeNanos = nowNanos;
    }

    /** Something went to the socket. */
    void sent(long nowNanos) {
        lastSendNanos = nowNanos;
    }

    /** A read batch ended: the peer is alive. */
    void life(long nowNanos) {
        lastLifeNanos = nowNanos;
    }

    /**
     * Life is any received message, or, while our outbound side is backed up and we are not
     * reading, the peer draining it ({@code backlogBytes} falling). While a circuit relay has paused
     * our reading the peer's silence is ours, not its: the clock does not run.
     *
     * @param legacy a 2013 C peer: sent no PING and never pings us (docs/PROFILE.md §4), so silence
     *     proves nothing; its death is TCP's to report (EOF, a reset, SO_KEEPALIVE)
     * @param up not before UP: until the peer's LNK_CONN arrives we cannot tell a 2013 node (which
     *     must not be sent PING) from one of ours (docs/LEGACY.md §1); our CONN went first anyway
     */
    Action check(long nowNanos, long backlogBytes, boolean readPaused, boolean legacy, boolean up) {
        if (backlogBytes < lastBacklogBytes || readPaused) {
            lastLifeNanos = nowNanos;
        }
        lastBacklogBytes = backlogBytes;
        if (silentNanos(nowNanos) >= config.deadTimeoutNanos() && !legacy) {
            return Action.DEAD;
        }
        if (!legacy && up && nowNanos - lastSendNanos >= config.pingIntervalNanos()) {
            return Action.PING;
        }
        return Action.NONE;
    }

    long silentNanos(long nowNanos) {
        return nowNanos - lastLifeNanos;
    }
}
