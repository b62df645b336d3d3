package dev.dmsg.link;

import dev.dmsg.wire.FrameLog;
import dev.dmsg.wire.Message;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * What one peer may cost us on one link (docs/SECURITY.md §7): the rapid-reset budget and the
 * caps on the transactions it holds open here, on all its links, and per originator on an
 * authenticated circuit (docs/IDENTITY.md §6). It decides and keeps the counts; the {@link Iocom}
 * closes the link or answers LIMIT. Event loop only.
 */
final class AbuseLimits {
    private final LinkConfig config;
    private final Transport transport;
    /** Rapid-reset budget (token bucket, in aborts); refilled at read-batch ends. */
    private double abortTokens;
    private long abortRefillNanos;
    /** Transactions the peer opened that are still in a table (all circuits). */
    private int peerOpen;
    private boolean peerCounterLooked;
    private AtomicInteger peerCounter;

    AbuseLimits(LinkConfig config, Transport transport) {
        this.config = config;
        this.transport = transport;
    }

    void start(long nowNanos) {
        abortTokens = config.abortBurst();
        abortRefillNanos = nowNanos;
    }

    /**
     * The peer aborts a transaction of its own (ABORT|CREATE, or an ABORT in its direction): each
     * costs a token (CVE-2023-44487: opening and at once cancelling work is cheap for the sender
     * and not for us). False: the bucket is empty, the link is to be closed.
     */
    boolean takeAbortToken() {
        if (abortTokens >= 1) {
            abortTokens--;
            return true;
        }
        refill(config.clock().getAsLong());
        if (abortTokens >= 1) {
            abortTokens--;
            return true;
        }
        return false;
    }

    String rapidResetReason(Message m) {
        return String.format("abusive peer: more than %d aborts of its own transactions at once, %d per second "
            + "sustained (rapid reset, CVE-2023-44487); last %s", config.abortBurst(), config.abortsPerSecond(),
            FrameLog.line(FrameLog.RECEIVED, m));
    }

    void refill(long nowNanos) {
        double add = (nowNanos - abortRefillNanos) * config.abortsPerSecond() / 1e9;
        abortRefillNanos = nowNanos;
        if (add > 0) {
            abortTokens = Math.min(config.abortBurst(), abortTokens + add);
        }
    }

    /**
     * Counts the peer's new transaction {@code t} on circuit {@code c} against its caps; returns
     * why it is over one (then it holds nothing), or {@code null}: admitted, counted until
     * {@link #release}.
     */
    String admit(Circuit c, Txn t) {
        CircuitSecurity sec = c.security;
        if (sec != null) {
            // docs/IDENTITY.md §6: an authenticated circuit's transactions are its originator's, not the neighbour's
            if (!sec.budget().tryAcquire()) {
                return "its originator " + sec.peer().name() + " holds " + sec.budget().max()
                    + " transactions open on its circuits to this node (the limit)";
            }
            t.budget = sec.budget();
            return null;
        }
        peerOpen++;
        t.countedOnLink = true;
        AtomicInteger acrossLinks = peerTransactionsCounter();
        int peerWide = acrossLinks == null ? 0 : acrossLinks.incrementAndGet();
        if (peerOpen > config.maxPeerTransactions() || peerWide > config.maxTransactionsPerPeer()) {
            return String.format("the peer holds %d transactions open here (limit %d), %d on all "
                + "its links (limit %d)", peerOpen - 1, config.maxPeerTransactions(), peerWide - 1,
                config.maxTransactionsPerPeer());
        }
        return null;
    }

    /** Gives back what the peer's transaction {@code t} took from its caps; nothing for ours. */
    void release(Txn t) {
        if (t.local) {
            return;
        }
        if (t.budget != null) {
            t.budget.release();
            t.budget = null;
        } else if (t.countedOnLink) {
            t.countedOnLink = false;
            peerOpen--;
            AtomicInteger c = peerTransactionsCounter();
            if (c != null) {
                c.decrementAndGet();
            }
        }
    }

    /** The counter shared by the peer's links, looked up once (the peer is known from the start). */
    private AtomicInteger peerTransactionsCounter() {
        if (!peerCounterLooked) {
            peerCounterLooked = true;
            peerCounter = transport.peerTransactions();
        }
        return peerCounter;
    }
}
