package dev.dmsg.link.tls;

import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;

/**
 * The listening side of the join exchange (docs/IDENTITY.md §2.6): what a node that redeems join
 * tokens answers to one {@code LNK_JOIN}. The link layer carries the bytes (a TLS connection
 * whose peer presented a join-request certificate, which never becomes a link); this decides.
 * Implementations must be thread-safe.
 */
public interface JoinResponder {
    /** How long a joiner may take, after TLS, to send its request; then the connection is closed. */
    Duration requestTimeout();

    /**
     * The answer ({@code LNK_JOIN|REPLY} aux) to {@code request} ({@code LNK_JOIN} aux) from the
     * TLS peer that presented {@code joiner}. Completes off the caller's thread, and never
     * exceptionally: a refusal is an answer.
     *
     * @param from the peer's address, for logs
     */
    CompletableFuture<byte[]> answer(byte[] request, X509Certificate joiner, String from);

    /** A joiner that sent nothing in time, or something other than one {@code LNK_JOIN}: counted and logged (rate-limited). */
    void abandoned(String from, String why);
}
