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

/**
 * One outbound Raft call for both our RPCs: find the group's name, send through the transport,
 * bound the wait, and turn every failure into the IOException Ratis expects (a timeout into its
 * {@link TimeoutIOException}).
 */
final class RaftCalls {
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

    /** Waits for {@code f}; an interrupt becomes Ratis's InterruptedIOException (how it stops an appender). */
    static <T> T await(CompletableFuture<T> f) throws IOException {
        try {
            return f.get();
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
