package dev.dmsg.quorum.raft;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.ratis.proto.RaftProtos.RaftGroupIdProto;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.protocol.exceptions.TimeoutIOException;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.apache.ratis.util.ProtoUtils;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One outbound Raft call for both our RPCs: find the group's name, send through the transport,
 * bound the wait, and turn every failure into the IOException Ratis expects (a timeout into its
 * {@link TimeoutIOException}).
 */
final class RaftCalls {
    private static final Logger log = LoggerFactory.getLogger(RaftCalls.class);

    private RaftCalls() {}

    /** A decoder that may throw the exception an error reply carries. */
    @FunctionalInterface
    interface Decoder<T> {
        T decode(byte[] b) throws IOException;
    }

    static CompletableFuture<byte[]> call(RaftWiring wiring, RaftGroupIdProto group, ByteString peer, byte[] request,
                                          long timeoutMs) {
        return call(wiring, ProtoUtils.toRaftGroupId(group), RaftPeerId.valueOf(peer), request, timeoutMs);
    }

    static CompletableFuture<byte[]> call(RaftWiring wiring, RaftGroupId group, RaftPeerId peer, byte[] request,
                                          long timeoutMs) {
        String name = wiring.nameOf(group);
        if (name == null) {
            return CompletableFuture.failedFuture(new IOException("Raft group " + group
                + " is not one of this node's quorum groups"));
        }
        CompletableFuture<byte[]> f = new CompletableFuture<>();
        wiring.transport.call(name, peer.toString(), request)
            .orTimeout(timeoutMs, TimeUnit.MILLISECONDS)
            .whenComplete((b, e) -> {
                if (e == null) {
                    f.complete(b);
                } else {
                    Throwable c = unwrap(e);
                    f.completeExceptionally(c instanceof TimeoutException
                        ? new TimeoutIOException("no answer from '" + peer + "' for group '" + name + "' within "
                            + timeoutMs + " ms")
                        : ioException(c));
                }
            });
        return f;
    }

    static <T> CompletableFuture<T> decode(byte[] b, Decoder<T> d) {
        try {
            return CompletableFuture.completedFuture(d.decode(b));
        } catch (IOException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /** How much longer than a call's own timeout a blocking wait for it may last (docs/QUORUM.md §8). */
    static final long AWAIT_SLACK_MS = 2_000;

    /**
     * Waits for {@code f}, a call with its own timeout of {@code timeoutMs}, at most that and
     * {@link #AWAIT_SLACK_MS}: the call ends by its own timeout before, so a wait that outlives it
     * is a future that escaped its timeout
     * — seen once (docs/QUORUM.md §8: a log appender parked here for 40 s after a heal) and not
     * explained. Rather than hang Ratis's appender for good, it fails as a timeout (Ratis retries)
     * and says so with the future's state. An interrupt becomes Ratis's InterruptedIOException
     * (how it stops an appender).
     */
    static <T> T await(CompletableFuture<T> f, long timeoutMs) throws IOException {
        return await(f, timeoutMs, () -> { });
    }

    /** {@link #await(CompletableFuture, long)}, running {@code onStuck} (drop the path to the peer) if it outlives the bound. */
    static <T> T await(CompletableFuture<T> f, long timeoutMs, Runnable onStuck) throws IOException {
        long bound = timeoutMs + AWAIT_SLACK_MS;
        try {
            return f.get(bound, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            log.warn("a Raft call outlived its own timeout of {} ms ({}): "
                + "failing it so that Ratis retries", timeoutMs, f);
            onStuck.run();
            f.completeExceptionally(new TimeoutIOException("no answer within " + bound + " ms"));
            throw new TimeoutIOException("a Raft call outlived its own timeout of " + timeoutMs + " ms");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            InterruptedIOException iio = new InterruptedIOException("interrupted waiting for a Raft reply");
            iio.initCause(e);
            throw iio;
        } catch (ExecutionException e) {
            throw ioException(e.getCause());
        }
    }

    static IOException ioException(Throwable e) {
        Throwable c = unwrap(e);
        return c instanceof IOException io ? io : new IOException(c.toString(), c);
    }

    static Throwable unwrap(Throwable e) {
        while ((e instanceof CompletionException || e instanceof ExecutionException) && e.getCause() != null) {
            e = e.getCause();
        }
        return e;
    }
}
